/**
 * `BpfMapLike`: what `BpfMap` and `FakeMap` (from `bpfmap/testing`) both are, so code that uses a
 * map can be handed either (the readers' counterparts are in `readers/interface.ts`). Types only: this file imports nothing at run time.
 */
import type { Codec } from '../codec/codec.js';
import type { MapType } from '../sys/uapi.js';
import type {
  BatchChunk,
  BatchWalkOptions,
  LookupManyOptions,
  LookupManyResult,
  LookupOptions,
  MapValue,
  UpdateOptions,
} from './map.js';
import type { PerCpuTypedMap, TypedMap } from './typed-map.js';

/**
 * A BPF map as code that reads and writes it sees it: element, integer, struct, typed,
 * queue/stack/bloom, iteration and batch operations, with the kernel's semantics and errors
 * (`BpfError` with the errno the kernel gives; `RangeError`/`TypeError` for wrong sizes and bad
 * arguments). `BpfMap` implements it over the bpf(2) syscall; `FakeMap` from `bpfmap/testing`
 * implements it in memory, without privileges, for unit tests. Take a `BpfMapLike` in the code
 * under test and pass a `BpfMap` in production, a `FakeMap` in tests.
 *
 * Left out on purpose: what only a kernel object has (`fd`, `id`, `pin`, `info`, `mmap`, inner maps,
 * BTF-derived typed views).
 */
export interface BpfMapLike<K = unknown, V = unknown> {
  /** The map type (`MapType.Hash`, …). */
  readonly type: MapType;
  /** The map's name ('' for none). */
  readonly name: string;
  /** Key size in bytes (0 for queue, stack and bloom filter maps). */
  readonly keySize: number;
  /** Value size in bytes (of one CPU's slot on per-CPU maps). */
  readonly valueSize: number;
  /** Bytes of one whole value: `valueSize`, or `roundUp(valueSize, 8) × possibleCpus()` on per-CPU maps. */
  readonly valueBufferSize: number;
  /** The maximum number of elements. */
  readonly maxEntries: number;
  /** `map_flags` (`BPF_F_NO_PREALLOC`, …) without `BPF_F_RDONLY`/`BPF_F_WRONLY`. */
  readonly flags: number;
  /** Values are one slot per possible CPU. */
  readonly isPerCpu: boolean;
  /** True once `close()` was called: every operation then throws `BpfError` `EBADF`. */
  readonly closed: boolean;

  /**
   * Looks up the value stored under `key`: a copy (or `opts.out`, filled), one view per possible
   * CPU on per-CPU maps; `undefined` when absent.
   */
  lookup(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined;
  /** Stores `value` under `key` (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, optionally `| BPF_F_LOCK`). */
  update(key: Uint8Array | null, value: Uint8Array | readonly Uint8Array[], opts?: UpdateOptions): void;
  /** Deletes `key`; false when it was absent. */
  delete(key: Uint8Array): boolean;
  /** Looks up `key` and deletes it in one step (queue/stack: pop); `undefined` when absent. */
  lookupAndDelete(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined;
  /** The key after `key` in the map's order (no key: the first key); `undefined` at the end. */
  getNextKey(key?: Uint8Array | null): Uint8Array | undefined;

  /** Pushes `value` onto a queue or stack, or adds it to a bloom filter. */
  push(value: Uint8Array, opts?: UpdateOptions): void;
  /** Removes and returns the head of a queue or stack; `undefined` when empty. */
  pop(): Uint8Array | undefined;
  /** Returns the head of a queue or stack without removing it; `undefined` when empty. */
  peek(): Uint8Array | undefined;
  /** Bloom filter: true when `value` is possibly present, false when certainly absent. */
  peek(value: Uint8Array): boolean;

  /** Looks up an integer key; the value as a little-endian unsigned integer (per-CPU: one per CPU). */
  lookupInt(key: number | bigint, opts?: Omit<LookupOptions, 'out'>): bigint | bigint[] | undefined;
  /** Stores integer `value` under integer `key` (per-CPU: one value for every CPU, or one per CPU). */
  updateInt(key: number | bigint, value: number | bigint | ReadonlyArray<number | bigint>, opts?: UpdateOptions): void;
  /** Deletes an integer key; false when absent. */
  deleteInt(key: number | bigint): boolean;
  /** The integer key after `key` (omitted: the first key); `undefined` at the end. */
  getNextKeyInt(key?: number | bigint): bigint | undefined;

  /** Looks up `keyBytes` and decodes the value with `type` (per-CPU: one record per CPU). */
  lookupStruct<R>(keyBytes: Uint8Array | null, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined;
  /** `lookupStruct` with an integer key. */
  lookupStructInt<R>(key: number | bigint, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined;
  /** Encodes `record` with `type` and stores it under `keyBytes`. */
  updateStruct<R>(keyBytes: Uint8Array | null, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void;
  /** `updateStruct` with an integer key. */
  updateStructInt<R>(key: number | bigint, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void;
  /** Deletes the key `keyRecord` encodes to with `type`; false when absent. */
  deleteStruct<R>(keyRecord: R, type: Codec<R>): boolean;
  /** The key after `keyRecord` (omitted: the first), decoded with `type`; `undefined` at the end. */
  getNextKeyStruct<R>(type: Codec<R>, keyRecord?: R): R | undefined;

  /** A `Map`-shaped view through codecs (no arguments: the codecs the map was created with). */
  typed<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): TypedMap<TK, TV>;
  /** `typed()` for per-CPU maps, typed so that `get` returns one value per possible CPU. */
  typedPerCpu<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): PerCpuTypedMap<TK, TV>;

  /** The keys; one pass yields each key at most once. */
  keys(): IterableIterator<Uint8Array>;
  /** `[key, value]` pairs. */
  entries(): IterableIterator<[Uint8Array, MapValue]>;
  /** Same as `entries()`. */
  [Symbol.iterator](): IterableIterator<[Uint8Array, MapValue]>;
  /** The whole map as chunks of flat keys and values. */
  chunks(opts?: BatchWalkOptions): IterableIterator<BatchChunk>;
  /** Walks the whole map in chunks of at most `batchSize` elements (grown where a hash bucket is larger). */
  lookupBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk>;
  /** `lookupBatch` that deletes what it returns. */
  lookupAndDeleteBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk>;
  /**
   * Looks up n keys (n × keySize bytes back to back): `found[i]` 1 where key i is present and its
   * value at slot i of `values` (n × valueBufferSize bytes; absent: zeroed); `count` keys found.
   */
  lookupMany(keys: Uint8Array, opts?: LookupManyOptions): LookupManyResult;
  /** Updates many elements; on failure a `BpfError` whose `count` says how many were applied. */
  updateBatch(keys: Uint8Array | readonly Uint8Array[], values: Uint8Array | readonly Uint8Array[], opts?: UpdateOptions): number;
  /** Deletes many keys; on failure (ENOENT) a `BpfError` whose `count` says how many were deleted. */
  deleteBatch(keys: Uint8Array | readonly Uint8Array[]): number;

  /** Freezes the map: later syscall writes fail with `EPERM`. */
  freeze(): void;
  /** Closes the map. Idempotent. */
  close(): void;
  /** `close()`, for `using`. */
  [Symbol.dispose](): void;
}
