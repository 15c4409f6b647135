/**
 * Reading a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) from userspace.
 *
 * The kernel maps the ring as a consumer page (writable: the consumer
 * position), then a producer page (the producer position) followed by the
 * data area mapped twice in a row, so a record that wraps is still
 * contiguous. Each record has an 8-byte header: its length (with BUSY and
 * DISCARD bits) and a page offset; records are 8-byte aligned.
 *
 * Waiting costs nothing: an `FdWaiter` thread blocks in epoll_wait(2) on the
 * map fd (sys/waiter.ts). Records come out in the order the kernel committed
 * them.
 */
import { BpfError } from './errors.js';
import type { BpfMap } from './map.js';
import { PAGE_SIZE, mmapFd, unmapBuffer } from './sys/bpf.js';
import { MapType } from './sys/uapi.js';
import { FdWaiter } from './sys/waiter.js';

const BUSY = 0x8000_0000;
const DISCARD = 0x4000_0000;
const HEADER = 8;

export class RingBufReader implements AsyncIterable<Uint8Array> {
  readonly map: BpfMap;
  readonly #size: number;
  readonly #consumer: ArrayBuffer;
  readonly #producer: ArrayBuffer;
  readonly #cons: BigUint64Array;
  readonly #prod: BigUint64Array;
  readonly #data: Uint8Array;
  readonly #waiter: FdWaiter;
  #closed = false;

  /** A reader of the ring buffer map `map` (which must stay open while reading). */
  constructor(map: BpfMap) {
    if (map.type !== MapType.Ringbuf)
      throw new TypeError(`a ring buffer reader needs a ringbuf map; this is ${MapType[map.type] ?? map.type}`);
    const fd = map.fd;
    if (fd < 0) throw new BpfError('mmap', 9, { hint: 'the map is closed' });
    this.map = map;
    this.#size = map.maxEntries;
    const c = mmapFd(fd, PAGE_SIZE, 0, true);
    if (typeof c === 'number') throw new BpfError('mmap', -c, { hint: 'mapping the ring buffer consumer page' });
    const p = mmapFd(fd, PAGE_SIZE + 2 * this.#size, PAGE_SIZE, false);
    if (typeof p === 'number') {
      unmapBuffer(c);
      throw new BpfError('mmap', -p, { hint: 'mapping the ring buffer producer page and data' });
    }
    this.#consumer = c;
    this.#producer = p;
    this.#cons = new BigUint64Array(c, 0, 1);
    this.#prod = new BigUint64Array(p, 0, 1);
    this.#data = new Uint8Array(p, PAGE_SIZE, 2 * this.#size);
    this.#waiter = new FdWaiter([fd]);
  }

  /** Bytes the producer has written that this reader has not consumed yet. */
  get pending(): number {
    if (this.#closed) return 0;
    return Number(Atomics.load(this.#prod, 0) - Atomics.load(this.#cons, 0));
  }

  /**
   * The next committed record (a copy), or undefined when the ring is empty
   * or its next record is still being written. Never blocks.
   */
  read(): Uint8Array | undefined {
    if (this.#closed) throw new BpfError('read', 9, { hint: 'the ring buffer reader is closed' });
    const mask = BigInt(this.#size - 1);
    for (;;) {
      const cons = Atomics.load(this.#cons, 0);
      const prod = Atomics.load(this.#prod, 0);
      if (cons >= prod) return undefined;
      const off = Number(cons & mask);
      const header = Atomics.load(new Uint32Array(this.#data.buffer, this.#data.byteOffset + off, 1), 0) >>> 0;
      if (header & BUSY) return undefined;
      const len = header & ~(BUSY | DISCARD);
      const total = (len + HEADER + 7) & ~7;
      const record = header & DISCARD ? undefined : this.#data.slice(off + HEADER, off + HEADER + len);
      Atomics.store(this.#cons, 0, cons + BigInt(total));
      if (record !== undefined) return record;
    }
  }

  /** Records as they arrive, in order; ends when `close()` is called. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (!this.#closed) {
      const r = this.read();
      if (r !== undefined) {
        yield r;
        continue;
      }
      await this.#waiter.wait(() => this.pending > 0);
    }
  }

  /** Stops the waiter and releases the mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    unmapBuffer(this.#consumer);
    unmapBuffer(this.#producer);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
