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
import type { Codec } from '../codec/codec.js';
import { BpfError, closedError, errnoNumber } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import { MapType } from '../sys/uapi.js';
import {
  RING_BUSY,
  RING_DISCARD,
  RING_HEADER,
  type RingPages,
  mapRingPages,
  ringRecordSize,
  unmapRingPages,
} from './ring-pages.js';
import { FdWaiter, readUntilClosed } from './waiter.js';

/**
 * Reads the records BPF programs submit to a ring buffer map (`bpf_ringbuf_output`/`_submit`),
 * through the map's mmap()ed consumer and producer pages: `read()` polls, async iteration waits.
 * @throws {TypeError} (constructor) when the map is not a ring buffer.
 * @throws {BpfError} (constructor) from mmap(2), e.g. EPERM without privilege, EBADF on a closed map.
 * @kernel 5.8
 */
export class RingBufReader implements AsyncIterable<Uint8Array> {
  readonly map: BpfMap;
  readonly #ring: RingPages;
  readonly #waiter: FdWaiter;
  #closed = false;

  /** A reader of the ring buffer map `map` (which must stay open while reading). */
  constructor(map: BpfMap) {
    if (map.type !== MapType.Ringbuf)
      throw new TypeError(`a ring buffer reader needs a ringbuf map; this is ${MapType[map.type] ?? map.type}`);
    this.map = map;
    this.#ring = mapRingPages(map, false, 'ring buffer');
    this.#waiter = new FdWaiter([map.fd]);
  }

  /** Bytes the producer has written that this reader has not consumed yet (0 once the reader or its map is closed). */
  get pending(): number {
    if (this.#closed || this.map.closed) return 0;
    return Number(Atomics.load(this.#ring.prod, 0) - Atomics.load(this.#ring.cons, 0));
  }

  /**
   * The next committed record (a copy), or undefined when the ring is empty
   * or its next record is still being written. Never blocks.
   * @throws {BpfError} EBADF once the reader or its map is closed.
   */
  read(): Uint8Array | undefined {
    if (this.#closed) throw new BpfError('read', errnoNumber('EBADF'), { hint: 'the ring buffer reader is closed' });
    if (this.map.closed) throw closedError('read', 'ring buffer map');
    const { cons: consPos, prod: prodPos, data, size } = this.#ring;
    const mask = BigInt(size - 1);
    for (;;) {
      const cons = Atomics.load(consPos, 0);
      const prod = Atomics.load(prodPos, 0);
      if (cons >= prod) return undefined;
      const off = Number(cons & mask);
      const header = Atomics.load(new Uint32Array(data.buffer, data.byteOffset + off, 1), 0) >>> 0;
      if (header & RING_BUSY) return undefined;
      const len = header & ~(RING_BUSY | RING_DISCARD);
      const record = header & RING_DISCARD ? undefined : data.slice(off + RING_HEADER, off + RING_HEADER + len);
      Atomics.store(consPos, 0, cons + BigInt(ringRecordSize(len)));
      if (record !== undefined) return record;
    }
  }

  /**
   * Records as they arrive, in order; ends when `close()` is called, throws EBADF when the map is closed.
   * Several loops may iterate one reader: each record goes to one of them.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return readUntilClosed(
      () => this.read(),
      this.#waiter,
      () => this.map.closed || this.pending > 0,
      () => this.#closed,
    );
  }

  /**
   * Records decoded with `codec` as they arrive (the same iteration as the reader itself). Programs
   * often send less than the whole struct (bcc's tools send a variable-length prefix): with
   * `{ partial: true }` a short record yields the fields wholly present in it (`decode(bytes, {
   * partial: true })`), typed as `Partial<T>`; without it a short record throws `RangeError`.
   * A record longer than the codec is decoded from its start.
   * @throws {RangeError} a record shorter than the codec, without `partial`.
   * @throws {BpfError} EBADF once the map is closed.
   */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<Partial<T>>;
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<T>;
  async *decoded<T>(codec: Codec<T>, opts: { partial?: boolean } = {}): AsyncGenerator<T | Partial<T>> {
    const how = { partial: opts.partial === true };
    for await (const record of this) yield codec.decode(record, how);
  }

  /** Stops the waiter and releases the mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    unmapRingPages(this.#ring);
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}
