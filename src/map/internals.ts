/**
 * `MapInternals`: what the files beside `map.ts` (batch-walk, iterate, record-ops, keyless,
 * typed-map, mmap) reach of a `BpfMap`'s private state. Not exported from the package: `BpfMap`
 * makes one per map the first time one of those helpers runs, never on the element hot paths
 * (lookup, update, delete, lookupInt, updateInt), which stay inside `map.ts`. Types only.
 */
import type { Codec } from '../codec/codec.js';
import type { KernelLoops } from './kernel-loop/lookup-many.js';
import type { MapValue } from './map.js';

/** The struct helpers' value scratch (record-ops.ts); see `BpfMap`'s scratch rule. */
export interface RecordScratch {
  buf: Uint8Array | undefined;
  view: DataView | undefined;
  /** An encode is running: a record getter that reaches this map again gets a buffer of its own. */
  busy: boolean;
}

/** A map's private state and checked helpers, as the satellites of map.ts use them. */
export interface MapInternals {
  /** The fd, or throws `BpfError` EBADF naming `command` once the map is closed. */
  live(command: string): number;
  /** The bytes to hand the kernel for an update of `value` (fd objects, per-CPU arrays, bytes), checked. */
  value(value: unknown): Uint8Array;
  /** A whole value as lookups return it: the bytes, or one view per possible CPU. */
  result(buf: Uint8Array): MapValue;
  /** An integer key encoded into the int helpers' key scratch. */
  intKey(key: unknown, command: string): Uint8Array;
  /** The map type's name for messages (`hash`, `percpu_array`, …). */
  typeName(): string;
  /** Elements exist for every index and cannot be deleted (array, per-CPU array). */
  readonly undeletable: boolean;
  /** The key codec `BpfMap.create` was given, if any. */
  readonly keyCodec: Codec<unknown> | undefined;
  /** The value codec `BpfMap.create` was given, if any. */
  readonly valueCodec: Codec<unknown> | undefined;
  /** The struct helpers' scratch. */
  readonly record: RecordScratch;
  /** The map's kernel-loop programs (kernel-loop/), made on first use. */
  loops(): KernelLoops;
}
