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
import { BpfError, closedError, errnoNumber } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import { MapType } from '../sys/uapi.js';
import { RING_BUSY, RING_HEADER, type RingPages, mapRingPages, ringRecordSize, unmapRingPages } from './ring-pages.js';

/**
 * Writes records into a user ring buffer map for a program's bpf_user_ringbuf_drain.
 * @throws {TypeError} (constructor) when the map is not a user ring buffer.
 * @kernel 6.1
 */
export class UserRingBufWriter {
  readonly map: BpfMap;
  readonly #ring: RingPages;
  #closed = false;

  /** A writer for the user ring buffer `map` (which must stay open while writing). */
  constructor(map: BpfMap) {
    if (map.type !== MapType.UserRingbuf)
      throw new TypeError(`a user ring buffer writer needs a user_ringbuf map; this is ${MapType[map.type] ?? map.type}`);
    this.map = map;
    this.#ring = mapRingPages(map, true, 'user ring buffer');
  }

  /** Bytes free for records (each takes its length plus an 8-byte header, rounded up to 8). */
  get available(): number {
    if (this.#closed) return 0;
    const { size, prod, cons } = this.#ring;
    return size - Number(Atomics.load(prod, 0) - Atomics.load(cons, 0));
  }

  /**
   * Appends one record. Returns false when the ring has no room for it now (a program has not
   * drained it yet); nothing is written then.
   * @throws {RangeError} when the record could never fit the ring.
   */
  write(record: Uint8Array): boolean {
    if (this.#closed) throw new BpfError('write', errnoNumber('EBADF'), { hint: 'the user ring buffer writer is closed' });
    if (this.map.closed) throw closedError('write', 'user ring buffer map');
    if (!(record instanceof Uint8Array)) throw new TypeError('write takes a Uint8Array record');
    const { size, prod: prodPos, cons, data } = this.#ring;
    const total = ringRecordSize(record.length);
    if (record.length === 0 || total > size)
      throw new RangeError(`a record must be 1 to ${size - RING_HEADER} bytes for this ring, got ${record.length}`);
    const prod = Atomics.load(prodPos, 0);
    if (size - Number(prod - Atomics.load(cons, 0)) < total) return false;
    const off = Number(prod & BigInt(size - 1));
    const header = new Uint32Array(data.buffer, data.byteOffset + off, 2);
    Atomics.store(header, 0, (record.length | RING_BUSY) >>> 0);
    Atomics.store(header, 1, 0);
    Atomics.store(prodPos, 0, prod + BigInt(total)); // reserve
    data.set(record, off + RING_HEADER);
    Atomics.store(header, 0, record.length); // commit: the kernel may read it now
    return true;
  }

  /** Releases the mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    unmapRingPages(this.#ring);
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}
