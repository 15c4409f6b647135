/**
 * Writing to a user ring buffer (BPF_MAP_TYPE_USER_RINGBUF): userspace
 * produces records, a program consumes them with `bpf_user_ringbuf_drain`.
 *
 * The kernel maps the consumer page read-only (it owns the consumer
 * position), then the producer page and the data area (mapped twice in a
 * row, so records never need to wrap) read-write. A record is reserved by
 * writing its header with the BUSY bit and advancing the producer position;
 * it becomes visible to the kernel when the BUSY bit is cleared, after its
 * bytes are in place. Records are 8-byte aligned, after an 8-byte header.
 */
import { BpfError } from './errors.js';
import type { BpfMap } from './map.js';
import { PAGE_SIZE, mmapFd, unmapBuffer } from './sys/bpf.js';
import { MapType } from './sys/uapi.js';

const BUSY = 0x8000_0000;
const HEADER = 8;

export class UserRingBufWriter {
  readonly map: BpfMap;
  readonly #size: number;
  readonly #consumer: ArrayBuffer;
  readonly #producer: ArrayBuffer;
  readonly #cons: BigUint64Array;
  readonly #prod: BigUint64Array;
  readonly #data: Uint8Array;
  #closed = false;

  /** A writer for the user ring buffer `map` (which must stay open while writing). */
  constructor(map: BpfMap) {
    if (map.type !== MapType.UserRingbuf)
      throw new TypeError(`a user ring buffer writer needs a user_ringbuf map; this is ${MapType[map.type] ?? map.type}`);
    if (map.fd < 0) throw new BpfError('mmap', 9, { hint: 'the map is closed' });
    this.map = map;
    this.#size = map.maxEntries;
    const c = mmapFd(map.fd, PAGE_SIZE, 0, false);
    if (typeof c === 'number') throw new BpfError('mmap', -c, { hint: 'mapping the user ring buffer consumer page' });
    const p = mmapFd(map.fd, PAGE_SIZE + 2 * this.#size, PAGE_SIZE, true);
    if (typeof p === 'number') {
      unmapBuffer(c);
      throw new BpfError('mmap', -p, { hint: 'mapping the user ring buffer producer page and data' });
    }
    this.#consumer = c;
    this.#producer = p;
    this.#cons = new BigUint64Array(c, 0, 1);
    this.#prod = new BigUint64Array(p, 0, 1);
    this.#data = new Uint8Array(p, PAGE_SIZE, 2 * this.#size);
  }

  /** Bytes free for records (each takes its length plus an 8-byte header, rounded up to 8). */
  get available(): number {
    if (this.#closed) return 0;
    return this.#size - Number(Atomics.load(this.#prod, 0) - Atomics.load(this.#cons, 0));
  }

  /**
   * Appends one record. Returns false when the ring has no room for it now (a program has not
   * drained it yet); nothing is written then.
   * @throws {RangeError} when the record could never fit the ring.
   */
  write(record: Uint8Array): boolean {
    if (this.#closed) throw new BpfError('write', 9, { hint: 'the user ring buffer writer is closed' });
    if (!(record instanceof Uint8Array)) throw new TypeError('write takes a Uint8Array record');
    const total = (record.length + HEADER + 7) & ~7;
    if (record.length === 0 || total > this.#size)
      throw new RangeError(`a record must be 1 to ${this.#size - HEADER} bytes for this ring, got ${record.length}`);
    const prod = Atomics.load(this.#prod, 0);
    if (this.#size - Number(prod - Atomics.load(this.#cons, 0)) < total) return false;
    const off = Number(prod & BigInt(this.#size - 1));
    const header = new Uint32Array(this.#data.buffer, this.#data.byteOffset + off, 2);
    Atomics.store(header, 0, (record.length | BUSY) >>> 0);
    Atomics.store(header, 1, 0);
    Atomics.store(this.#prod, 0, prod + BigInt(total)); // reserve
    this.#data.set(record, off + HEADER);
    Atomics.store(header, 0, record.length); // commit: the kernel may read it now
    return true;
  }

  /** Releases the mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    unmapBuffer(this.#consumer);
    unmapBuffer(this.#producer);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
