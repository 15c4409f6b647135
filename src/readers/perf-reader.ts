/**
 * Reading a perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY): what programs
 * send with `bpf_perf_event_output`.
 *
 * For each possible CPU the reader opens a BPF output perf event
 * (perf_event_open(2)), stores its fd in the map at that CPU's index, and maps
 * its ring: a control page (data_head written by the kernel, data_tail by
 * us) followed by `pages` data pages. Records are `perf_event_header`s: a
 * SAMPLE carries the program's bytes (PERF_SAMPLE_RAW), a LOST says how many
 * were dropped because the ring was full. Records may wrap around the end of
 * the ring; they are copied out whole. Order holds per CPU, not across CPUs.
 */
import { possibleCpuList } from '../sys/cpu.js';
import type { Codec } from '../codec/codec.js';
import { BpfError, closedError, errnoName, errnoNumber } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import { PAGE_SIZE, closeFd, mmapFd, perfEventOpenBpfOutput, unmapBuffer } from '../sys/bpf.js';
import * as L from '../sys/layout.js';
import { MapType } from '../sys/uapi.js';
import { FdWaiter, readUntilClosed } from './waiter.js';

const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;

/**
 * A record from one CPU: the bytes a program sent (padded by the kernel to end on an 8-byte word, counting
 * the 4-byte size before them), or a count of records the kernel dropped because the ring was full.
 */
export type PerfRecord = { cpu: number; data: Uint8Array; lost?: undefined } | { cpu: number; lost: number; data?: undefined };

/** A `PerfRecord` whose bytes were decoded by `PerfEventReader.decoded()`: the value, or the count of dropped records. */
export type DecodedPerfRecord<T> = { cpu: number; value: T; lost?: undefined } | { cpu: number; lost: number; value?: undefined };

/** Options of `PerfEventReader`: ring sizes and wakeups. */
export interface PerfReaderOptions {
  /** Data pages per CPU, a power of two (default 8). */
  pages?: number;
  /** Wake the reader after this many records (default 1: every record). */
  wakeupEvents?: number;
}

/** Perf event fds of readers dropped without `close()`: closed when the reader is collected. */
const collected = new FinalizationRegistry<number[]>((fds) => {
  for (const fd of fds) closeFd(fd);
});

interface CpuRing {
  cpu: number;
  fd: number;
  buffer: ArrayBuffer;
  head: BigUint64Array;
  tail: BigUint64Array;
  data: Uint8Array;
}

/**
 * Reads the records programs send with bpf_perf_event_output through a perf event array, one perf ring per CPU, as an async iterable.
 * @kernel 4.3 (BPF_MAP_TYPE_PERF_EVENT_ARRAY and bpf_perf_event_output)
 */
export class PerfEventReader implements AsyncIterable<PerfRecord> {
  readonly map: BpfMap;
  readonly #rings: CpuRing[] = [];
  /** The perf event fds this reader owns (what the collector closes if it is dropped). */
  readonly #fds: number[] = [];
  readonly #waiter: FdWaiter;
  #next = 0;
  #closed = false;

  /** Opens a BPF output event per possible CPU and puts it in `map` at that CPU's index. */
  constructor(map: BpfMap, opts: PerfReaderOptions = {}) {
    if (map.type !== MapType.PerfEventArray)
      throw new TypeError(`a perf event reader needs a perf_event_array map; this is ${MapType[map.type] ?? map.type}`);
    const pages = opts.pages ?? 8;
    if (!Number.isInteger(pages) || pages < 1 || pages & (pages - 1))
      throw new RangeError(`pages must be a power of two, got ${String(pages)}`);
    const wakeup = opts.wakeupEvents ?? 1;
    if (!Number.isInteger(wakeup) || wakeup < 1)
      throw new RangeError(`wakeupEvents must be a positive integer, got ${String(wakeup)}`);
    const cpus = possibleCpuList();
    const highest = Math.max(...cpus);
    if (map.maxEntries <= highest)
      throw new RangeError(
        `the perf event array has ${map.maxEntries} entries; it needs one per possible CPU (up to CPU ${highest})`,
      );
    this.map = map;
    collected.register(this, this.#fds, this);
    try {
      for (const cpu of cpus) {
        const fd = perfEventOpenBpfOutput(cpu, wakeup);
        if (fd < 0) {
          if (errnoName(-fd) === 'ENODEV') continue; // a possible CPU that is not online
          throw new BpfError('perf_event_open', -fd, {
            hint:
              errnoName(-fd) === 'EPERM' || errnoName(-fd) === 'EACCES' ? 'needs CAP_PERFMON (or CAP_SYS_ADMIN)' : `CPU ${cpu}`,
          });
        }
        this.#fds.push(fd);
        const len = (1 + pages) * PAGE_SIZE;
        const buf = mmapFd(fd, len, 0, true);
        if (typeof buf === 'number') {
          throw new BpfError('mmap', -buf, { hint: `the perf ring of CPU ${cpu}` });
        }
        const ctl = new DataView(buf, 0, PAGE_SIZE);
        const dataOffset = Number(ctl.getBigUint64(L.PerfMmapPage.dataOffset, true)) || PAGE_SIZE;
        const dataSize = Number(ctl.getBigUint64(L.PerfMmapPage.dataSize, true)) || pages * PAGE_SIZE;
        this.#rings.push({
          cpu,
          fd,
          buffer: buf,
          head: new BigUint64Array(buf, L.PerfMmapPage.dataHead, 1),
          tail: new BigUint64Array(buf, L.PerfMmapPage.dataTail, 1),
          data: new Uint8Array(buf, dataOffset, dataSize),
        });
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, cpu, true);
        const value = new Uint8Array(map.valueSize);
        new DataView(value.buffer).setUint32(0, fd, true);
        map.update(key, value);
      }
    } catch (err) {
      this.#release();
      throw err;
    }
    this.#waiter = new FdWaiter(this.#rings.map((r) => r.fd));
  }

  /** True when some CPU's ring holds a record not read yet (false once the reader or its map is closed). */
  get pending(): boolean {
    if (this.#closed || this.map.closed) return false;
    return this.#rings.some((r) => Atomics.load(r.tail, 0) < Atomics.load(r.head, 0));
  }

  /** Copies `n` bytes of a ring from `pos`, wrapping at the end. */
  #copy(r: CpuRing, pos: bigint, n: number): Uint8Array {
    const size = r.data.length;
    const off = Number(pos % BigInt(size));
    if (off + n <= size) return r.data.slice(off, off + n);
    const out = new Uint8Array(n);
    out.set(r.data.subarray(off));
    out.set(r.data.subarray(0, n - (size - off)), size - off);
    return out;
  }

  /**
   * The next record from any CPU (taking CPUs in turn), or undefined when every ring is empty. Never blocks.
   * @throws {BpfError} EBADF once the reader or its map is closed.
   */
  read(): PerfRecord | undefined {
    if (this.#closed) throw new BpfError('read', errnoNumber('EBADF'), { hint: 'the perf event reader is closed' });
    if (this.map.closed) throw closedError('read', 'perf event array');
    for (let i = 0; i < this.#rings.length; i++) {
      const r = this.#rings[(this.#next + i) % this.#rings.length] as CpuRing;
      let tail = Atomics.load(r.tail, 0);
      const head = Atomics.load(r.head, 0);
      while (tail < head) {
        const hdr = new DataView(this.#copy(r, tail, 8).buffer);
        const type = hdr.getUint32(0, true);
        const size = hdr.getUint16(6, true);
        if (size < 8)
          throw new BpfError('read', errnoNumber('EIO'), {
            hint: `a perf record of ${size} bytes on CPU ${r.cpu}: the ring is corrupt`,
          });
        const body = this.#copy(r, tail + 8n, size - 8);
        tail += BigInt(size);
        Atomics.store(r.tail, 0, tail);
        const v = new DataView(body.buffer);
        if (type === PERF_RECORD_SAMPLE) {
          const n = v.getUint32(0, true);
          this.#next = (this.#next + i + 1) % this.#rings.length;
          // The kernel pads the raw data so that its u32 size and the data fill whole 8-byte words: a program's
          // 16 bytes arrive as 20, the first 16 being what it sent (as with libbpf's perf buffer).
          return { cpu: r.cpu, data: body.slice(4, 4 + n) };
        }
        if (type === PERF_RECORD_LOST) {
          this.#next = (this.#next + i + 1) % this.#rings.length;
          return { cpu: r.cpu, lost: Number(v.getBigUint64(8, true)) };
        }
        // Other record types are skipped.
      }
    }
    return undefined;
  }

  /**
   * Records as they arrive; ends when `close()` is called, throws EBADF when the map is closed.
   * Several loops may iterate one reader: each record goes to one of them.
   */
  [Symbol.asyncIterator](): AsyncIterator<PerfRecord> {
    return readUntilClosed(
      () => this.read(),
      this.#waiter,
      () => this.map.closed || this.pending,
      () => this.#closed,
    );
  }

  /**
   * Records decoded with `codec` as they arrive, with their CPU; lost-sample counts pass through as
   * `{ cpu, lost }`. The kernel pads each sample to an 8-byte boundary, so a value is decoded from
   * the start of its bytes. With `{ partial: true }` a sample shorter than the codec yields the
   * fields wholly present (`decode(bytes, { partial: true })`), typed as `Partial<T>`; without it a
   * short sample throws `RangeError`.
   * @throws {RangeError} a sample shorter than the codec, without `partial`.
   * @throws {BpfError} EBADF once the map is closed.
   */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<DecodedPerfRecord<Partial<T>>>;
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<DecodedPerfRecord<T>>;
  async *decoded<T>(codec: Codec<T>, opts: { partial?: boolean } = {}): AsyncGenerator<DecodedPerfRecord<T | Partial<T>>> {
    const how = { partial: opts.partial === true };
    for await (const r of this) {
      if (r.lost !== undefined) yield { cpu: r.cpu, lost: r.lost };
      else yield { cpu: r.cpu, value: codec.decode(r.data, how) };
    }
  }

  #release(): void {
    collected.unregister(this);
    for (const r of this.#rings) unmapBuffer(r.buffer);
    for (const fd of this.#fds) closeFd(fd);
    this.#rings.length = 0;
    this.#fds.length = 0;
  }

  /** Stops waiting, empties the map slots it filled, unmaps the rings and closes the perf events. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    if (!this.map.closed)
      for (const r of this.#rings) {
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, r.cpu, true);
        this.map.delete(key);
      }
    this.#release();
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }
}
