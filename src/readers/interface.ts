/**
 * The consumer side of the event readers, which `RingBufReader`, `PerfEventReader` and their fakes
 * (from `bpfmap/testing`) share, so consumer code can be handed either. Types only: this file
 * imports nothing at run time.
 */
import type { Codec } from '../codec/codec.js';
import type { DecodedPerfRecord, PerfRecord } from './perf-reader.js';

/**
 * The consumer side of a ring buffer reader: what `RingBufReader` and `FakeRingBufReader`
 * (`bpfmap/testing`) share, so code that consumes records can be tested without a kernel.
 */
export interface RingBufReaderLike extends AsyncIterable<Uint8Array> {
  /** Bytes written and not consumed yet (record headers and padding included). */
  readonly pending: number;
  /** The next record (a copy), or `undefined` when there is none. Never blocks. */
  read(): Uint8Array | undefined;
  /** Records decoded with `codec` as they arrive. */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<Partial<T>>;
  /** Records decoded with `codec` as they arrive. */
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<T>;
  /** Stops the reader: iteration ends. Idempotent. */
  close(): void;
  /** `close()`, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * The consumer side of a perf event reader: what `PerfEventReader` and `FakePerfEventReader`
 * (`bpfmap/testing`) share.
 */
export interface PerfEventReaderLike extends AsyncIterable<PerfRecord> {
  /** True when some CPU's ring holds a record not read yet. */
  readonly pending: boolean;
  /** The next record from any CPU (CPUs in turn), or `undefined` when every ring is empty. Never blocks. */
  read(): PerfRecord | undefined;
  /** Samples decoded with `codec`, with their CPU; lost counts pass through. */
  decoded<T>(codec: Codec<T>, opts: { partial: true }): AsyncGenerator<DecodedPerfRecord<Partial<T>>>;
  /** Samples decoded with `codec`, with their CPU; lost counts pass through. */
  decoded<T>(codec: Codec<T>, opts?: { partial?: false }): AsyncGenerator<DecodedPerfRecord<T>>;
  /** Stops the reader: iteration ends. Idempotent. */
  close(): void;
  /** `close()`, for `using`. */
  [Symbol.dispose](): void;
}
