/**
 * Fake event readers: a ring buffer and a perf event array that a test fills with `push()`, read
 * through the same consumer API as `RingBufReader` and `PerfEventReader` (`read`, `pending`,
 * async iteration, `decoded`, `close`), with the kernel's framing: ring buffer records take an
 * 8-byte header and 8-byte alignment in the ring, perf samples arrive padded to end on an 8-byte
 * word (counting their 4-byte size), a full ring drops what does not fit (the perf ring then
 * reports the count in a lost record).
 */
import {
  BpfError,
  type Codec,
  type DecodedPerfRecord,
  type PerfEventReaderLike,
  type PerfRecord,
  type RingBufReaderLike,
  errnoNumber,
  possibleCpus,
} from '../index.js';
import { checkBytes, checkInt, roundUp8 } from './check.js';

const PAGE = 4096;

/** Wakes the async iterators waiting for records. */
class Waiters {
  readonly #wakers = new Set<() => void>();

  wait(): Promise<void> {
    return new Promise((resolve) => this.#wakers.add(resolve));
  }

  wakeAll(): void {
    const all = [...this.#wakers];
    this.#wakers.clear();
    for (const w of all) w();
  }
}

async function* readUntilClosed<T>(
  read: () => T | undefined,
  waiters: Waiters,
  closed: () => boolean,
): AsyncGenerator<T, void, undefined> {
  while (!closed()) {
    const r = read();
    if (r !== undefined) {
      yield r;
      continue;
    }
    await waiters.wait();
  }
}

/** Options of `FakeRingBufReader`. */
export interface FakeRingBufReaderOptions {
  /** The ring's data size in bytes (a ring buffer map's `max_entries`): a power-of-2 multiple of 4096; default 65536. */
  size?: number;
}

/**
 * A ring buffer reader without a ring buffer map: `push(record)` does what a program's
 * `bpf_ringbuf_output` does, the rest is `RingBufReader`'s consumer API.
 */
export class FakeRingBufReader implements RingBufReaderLike {
  /** The ring's data size in bytes. */
  readonly size: number;
  readonly #records: Uint8Array[] = [];
  readonly #waiters = new Waiters();
  #used = 0;
  #closed = false;

  /** @throws {RangeError} when `size` is not a power-of-2 multiple of 4096. */
  constructor(opts: FakeRingBufReaderOptions = {}) {
    const size = opts.size ?? 16 * PAGE;
    if (!Number.isInteger(size) || size < PAGE || size & (size - 1))
      throw new RangeError(`size must be a power-of-2 multiple of ${PAGE} bytes, got ${String(size)}`);
    this.size = size;
  }

  /**
   * Submits a record as a program would. The ring holds `size` bytes; each record takes 8 header
   * bytes plus its length rounded up to 8.
   * @returns false when the record does not fit (the kernel's `bpf_ringbuf_output` then fails and the record is lost).
   * @throws {TypeError} when `record` is not a Uint8Array. @throws {BpfError} EBADF once closed.
   */
  push(record: Uint8Array): boolean {
    if (this.#closed) throw new BpfError('push', errnoNumber('EBADF'), { hint: 'the ring buffer reader is closed' });
    checkBytes('record', record, record instanceof Uint8Array ? record.length : 0, 'a record');
    const need = 8 + roundUp8(record.length);
    if (this.#used + need > this.size) return false;
    this.#used += need;
    this.#records.push(record.slice());
    this.#waiters.wakeAll();
    return true;
  }

  /** Bytes submitted and not consumed yet (headers and padding included); 0 once closed. */
  get pending(): number {
    return this.#closed ? 0 : this.#used;
  }

  /**
   * The next record (a copy), or `undefined` when the ring is empty. Never blocks.
   * @throws {BpfError} EBADF once the reader is closed.
   */
  read(): Uint8Array | undefined {
    if (this.#closed) throw new BpfError('read', errnoNumber('EBADF'), { hint: 'the ring buffer reader is closed' });
    const r = this.#records.shift();
    if (r !== undefined) this.#used -= 8 + roundUp8(r.length);
    return r;
  }

  /** Records as they are pushed, in order; ends when `close()` is called. Several loops may iterate: each record goes to one. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return readUntilClosed(
      () => this.read(),
      this.#waiters,
      () => this.#closed,
    );
  }

  /** Records decoded with `codec` as they arrive (`{ partial: true }`: a short record yields the fields it holds). */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<Partial<T>>;
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<T>;
  async *decoded<T>(codec: Codec<T>, opts: { partial?: boolean } = {}): AsyncGenerator<T | Partial<T>> {
    const how = { partial: opts.partial === true };
    for await (const record of this) yield codec.decode(record, how);
  }

  /** Ends iteration; later calls throw EBADF. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.wakeAll();
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options of `FakePerfEventReader`. */
export interface FakePerfEventReaderOptions {
  /** CPUs, numbered from 0 (default `possibleCpus()`). */
  cpus?: number;
  /** Data pages per CPU, a power of two (default 8, as `PerfEventReader`). */
  pages?: number;
}

interface FakeRing {
  records: PerfRecord[];
  used: number;
  /** Samples dropped since the last lost record. */
  lost: number;
}

/** Bytes a sample of `n` bytes takes in a perf ring: the 8-byte header, then its u32 size and data padded to 8. */
function sampleBytes(n: number): number {
  return 8 + roundUp8(4 + n);
}

/** A lost record: header, id, count. */
const LOST_BYTES = 24;

/**
 * A perf event reader without perf events: `push(data, { cpu })` does what a program's
 * `bpf_perf_event_output` does on that CPU, the rest is `PerfEventReader`'s consumer API.
 */
export class FakePerfEventReader implements PerfEventReaderLike {
  /** How many CPUs (rings) it has. */
  readonly cpus: number;
  readonly #ringBytes: number;
  readonly #rings: FakeRing[];
  readonly #waiters = new Waiters();
  #next = 0;
  #closed = false;

  /** @throws {RangeError} for a `pages` that is not a power of two, or a `cpus` below 1. */
  constructor(opts: FakePerfEventReaderOptions = {}) {
    const pages = opts.pages ?? 8;
    if (!Number.isInteger(pages) || pages < 1 || pages & (pages - 1))
      throw new RangeError(`pages must be a power of two, got ${String(pages)}`);
    this.cpus = checkInt('cpus', opts.cpus ?? possibleCpus(), 1, 4096);
    this.#ringBytes = pages * PAGE;
    this.#rings = Array.from({ length: this.cpus }, () => ({ records: [], used: 0, lost: 0 }));
  }

  #ring(cpu: number): FakeRing {
    checkInt('cpu', cpu, 0, this.cpus - 1);
    return this.#rings[cpu] as FakeRing;
  }

  /**
   * Sends `data` from CPU `opts.cpu` (default 0) as a program would. The consumer gets it padded
   * with zeros to end on an 8-byte word counting its 4-byte size (16 bytes arrive as 20), as from the kernel.
   * @returns false when that CPU's ring is full: the sample is dropped and counted in the next lost record.
   * @throws {RangeError} for a CPU out of range. @throws {BpfError} EBADF once closed.
   */
  push(data: Uint8Array, opts: { cpu?: number } = {}): boolean {
    if (this.#closed) throw new BpfError('push', errnoNumber('EBADF'), { hint: 'the perf event reader is closed' });
    checkBytes('data', data, data instanceof Uint8Array ? data.length : 0, 'a sample');
    const r = this.#ring(opts.cpu ?? 0);
    const cpu = opts.cpu ?? 0;
    const need = sampleBytes(data.length) + (r.lost > 0 ? LOST_BYTES : 0);
    if (r.used + need > this.#ringBytes) {
      r.lost++;
      return false;
    }
    if (r.lost > 0) {
      r.records.push({ cpu, lost: r.lost });
      r.lost = 0;
    }
    const padded = new Uint8Array(roundUp8(4 + data.length) - 4);
    padded.set(data);
    r.records.push({ cpu, data: padded });
    r.used += need;
    this.#waiters.wakeAll();
    return true;
  }

  /** Puts a lost record (`{ cpu, lost: count }`) on CPU `opts.cpu`'s ring, as the kernel does after dropping samples. */
  pushLost(count: number, opts: { cpu?: number } = {}): void {
    if (this.#closed) throw new BpfError('push', errnoNumber('EBADF'), { hint: 'the perf event reader is closed' });
    const cpu = opts.cpu ?? 0;
    const r = this.#ring(cpu);
    r.records.push({ cpu, lost: checkInt('count', count, 1, Number.MAX_SAFE_INTEGER) });
    r.used += LOST_BYTES;
    this.#waiters.wakeAll();
  }

  /** True when some CPU's ring holds a record not read yet (false once closed). */
  get pending(): boolean {
    return !this.#closed && this.#rings.some((r) => r.records.length > 0);
  }

  /**
   * The next record from any CPU (taking CPUs in turn), or `undefined` when every ring is empty. Never blocks.
   * @throws {BpfError} EBADF once the reader is closed.
   */
  read(): PerfRecord | undefined {
    if (this.#closed) throw new BpfError('read', errnoNumber('EBADF'), { hint: 'the perf event reader is closed' });
    for (let i = 0; i < this.#rings.length; i++) {
      const r = this.#rings[(this.#next + i) % this.#rings.length] as FakeRing;
      const rec = r.records.shift();
      if (rec === undefined) continue;
      r.used -= rec.lost !== undefined ? LOST_BYTES : 12 + rec.data.length; // header, u32 size, padded data
      this.#next = (this.#next + i + 1) % this.#rings.length;
      return rec;
    }
    return undefined;
  }

  /** Records as they are pushed; ends when `close()` is called. Several loops may iterate: each record goes to one. */
  [Symbol.asyncIterator](): AsyncIterator<PerfRecord> {
    return readUntilClosed(
      () => this.read(),
      this.#waiters,
      () => this.#closed,
    );
  }

  /** Samples decoded with `codec`, with their CPU; lost counts pass through as `{ cpu, lost }`. */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<DecodedPerfRecord<Partial<T>>>;
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<DecodedPerfRecord<T>>;
  async *decoded<T>(codec: Codec<T>, opts: { partial?: boolean } = {}): AsyncGenerator<DecodedPerfRecord<T | Partial<T>>> {
    const how = { partial: opts.partial === true };
    for await (const r of this) {
      if (r.lost !== undefined) yield { cpu: r.cpu, lost: r.lost };
      else yield { cpu: r.cpu, value: codec.decode(r.data, how) };
    }
  }

  /** Ends iteration; later calls throw EBADF. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.wakeAll();
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}
