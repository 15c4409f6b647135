/**
 * `FakeMap`: a BPF map in memory with the kernel's userspace semantics, for unit tests that run
 * without privileges. It makes no syscall. Each method checks its arguments as `BpfMap` does
 * (the same `TypeError`/`RangeError`), then applies the map type's rules from one table
 * (map-types.ts) and throws the `BpfError` (command, errno, batch count) the kernel would give.
 */
import {
  BPF_F_LOCK,
  BPF_F_NO_PREALLOC,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  type BatchChunk,
  type BatchWalkOptions,
  BpfError,
  type BpfMapLike,
  type Codec,
  type ErrnoCode,
  IterationAbortedError,
  type LookupManyOptions,
  type LookupManyResult,
  type LookupOptions,
  MAP_TYPE_NAMES,
  type MapCreateOptions,
  MapType,
  type MapValue,
  type PerCpuTypedMap,
  TypedMap,
  type UpdateOptions,
  errnoNumber,
  possibleCpus,
} from '../index.js';
import {
  arrayElements,
  checkBytes,
  checkFlags,
  checkInt,
  checkMapName,
  checkU32,
  describe,
  readUintLE,
  roundUp8,
  toUint,
  writeUintLE,
} from './check.js';
import { batchError, closedError, fakeError } from './errors.js';
import { TYPES, type TypeTraits } from './map-types.js';
import { BloomStore, type Store, keyId } from './stores.js';

const EXIST = 2;
/** Elements per lookup batch when walking a map, as `BpfMap`. */
const BATCH_WALK_SIZE = 256;

/** A spin lock's offset in a value codec (a `bpfSpinLock` field at the top level), or -1. */
function lockOffset(codec: Codec<unknown> | undefined): number {
  const fields = (codec as { fields?: readonly { offset: number; type: { kind: string } }[] } | undefined)?.fields;
  const f = fields?.find((x) => x.type.kind === 'spinlock');
  return f === undefined ? -1 : f.offset;
}

function sizeFrom(side: 'key' | 'value', size: unknown, codec: Codec<unknown> | undefined): number {
  if (codec !== undefined) {
    if (typeof codec !== 'object' || codec === null || typeof codec.size !== 'number')
      throw new TypeError(`${side} must be a codec (defineStruct, u32, …), got ${describe(codec)}`);
    if (size !== undefined && size !== codec.size)
      throw new RangeError(`${side}Size ${String(size)} disagrees with the ${side} codec ${codec.name} (${codec.size} bytes)`);
    return codec.size;
  }
  if (size === undefined)
    throw new TypeError(
      `${side}Size is required${side === 'key' ? ' (0 for queue, stack, bloom filter and ring buffer maps)' : ''}, or give a ${side} codec`,
    );
  return checkU32(`${side}Size`, size);
}

/** What the kernel's BPF_MAP_CREATE would refuse for these options, as an errno name. */
function createRefusal(
  t: TypeTraits,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  flags: number,
  extra: bigint,
  bloom: boolean,
): ErrnoCode | undefined {
  if (t.noPrealloc !== undefined && t.noPrealloc !== 'required' && flags & BPF_F_NO_PREALLOC) return t.noPrealloc;
  if (t.noPrealloc === 'required' && !(flags & BPF_F_NO_PREALLOC)) return 'EINVAL';
  if (flags & ~t.createFlags) return 'EINVAL';
  if (flags & BPF_F_RDONLY && flags & BPF_F_WRONLY) return 'EINVAL';
  if (maxEntries === 0 || valueSize === 0) return 'EINVAL';
  const ks = t.keySize;
  if (ks === undefined ? keySize === 0 : typeof ks === 'number' ? keySize !== ks : keySize < ks[0] || keySize > ks[1])
    return 'EINVAL';
  if (extra !== 0n && !(bloom && extra <= 0xfn)) return 'EINVAL';
  return undefined;
}

/**
 * A BPF map held in memory, with the kernel's semantics for userspace: the same results, the
 * same errors (`BpfError` with the command, errno and batch count the kernel gives; `RangeError`
 * and `TypeError` for arguments `BpfMap` refuses), per-CPU values (one slot per possible CPU),
 * get-next-key order, batches, freeze and close. It makes no syscall and needs no privilege.
 *
 * Supported types: hash, per-CPU hash, LRU hash, LRU per-CPU hash, array, per-CPU array, queue,
 * stack, bloom filter, LPM trie. Where the kernel leaves a choice, the fake documents its own:
 *
 * - Hash order: get-next-key and batches walk keys in insertion order (the kernel: bucket order);
 *   a walk from a key that is not in the map restarts at the first key, as in the kernel.
 * - LRU: when a new key finds the map full, the fake evicts exactly one key, the least recently
 *   written (updates count as use, lookups from userspace do not, as in the kernel). The kernel's
 *   LRU is approximate and per-CPU: it may evict before the map is full, several keys at once, or
 *   on the update of an existing key — even the key being updated, since it takes a free element
 *   before it looks the key up: `BPF_EXIST` can then fail with ENOENT and `BPF_NOEXIST` succeed on a
 *   key that was present. It guarantees only that the map never holds more than `maxEntries`, that
 *   an update never fails with E2BIG, and that a successful update leaves the key present with its
 *   value. The fake never evicts the key being updated.
 * - Bloom filter: exact (no false positives); the kernel's may say "possibly present" for values
 *   never pushed, never the reverse.
 * - Batches: a chunk holds exactly `batchSize` elements except the last (the kernel's hash batches
 *   copy whole buckets: fewer, or more after growing on ENOSPC).
 * - `BPF_F_LOCK` is accepted where the kernel would: a hash or array whose `value` codec has a
 *   `bpfSpinLock` field at its top level.
 */
export class FakeMap<K = unknown, V = unknown> implements BpfMapLike<K, V> {
  readonly type: MapType;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly valueBufferSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly isPerCpu: boolean;
  readonly #traits: TypeTraits;
  readonly #store: Store;
  readonly #keyCodec: Codec<unknown> | undefined;
  readonly #valueCodec: Codec<unknown> | undefined;
  /** Offset of the value's bpf_spin_lock (zeroed in every stored and returned value), or -1. */
  readonly #lock: number;
  readonly #readable: boolean;
  readonly #writable: boolean;
  #frozen = false;
  #closed = false;
  #outViews: { out: Uint8Array; views: readonly Uint8Array[] } | undefined;

  private constructor(
    type: MapType,
    name: string,
    traits: TypeTraits,
    sizes: { keySize: number; valueSize: number; maxEntries: number; flags: number },
    codecs: { key: Codec<unknown> | undefined; value: Codec<unknown> | undefined },
  ) {
    this.type = type;
    this.name = name;
    this.#traits = traits;
    this.keySize = sizes.keySize;
    this.valueSize = sizes.valueSize;
    this.maxEntries = sizes.maxEntries;
    this.flags = sizes.flags & ~(BPF_F_RDONLY | BPF_F_WRONLY);
    this.#readable = !(sizes.flags & BPF_F_WRONLY);
    this.#writable = !(sizes.flags & BPF_F_RDONLY);
    this.isPerCpu = traits.perCpu;
    this.valueBufferSize = traits.perCpu ? roundUp8(sizes.valueSize) * possibleCpus() : sizes.valueSize;
    this.#keyCodec = codecs.key;
    this.#valueCodec = codecs.value;
    this.#lock = traits.lockable ? lockOffset(codecs.value) : -1;
    this.#store = traits.store(this);
  }

  /**
   * Creates a fake map from `BpfMap.create`'s options (`btf`, `innerMap`, `numaNode`, `ifindex`
   * are checked for type and otherwise ignored).
   * @throws {TypeError|RangeError} for bad options, as `BpfMap.create`; also a TypeError for a map
   *   type the fake does not model.
   * @throws {BpfError} `BPF_MAP_CREATE` EINVAL (or ENOTSUPP) where the kernel refuses the sizes or flags.
   */
  static create<K = unknown, V = unknown>(opts: MapCreateOptions<K, V>): FakeMap<K, V> {
    if (typeof opts !== 'object' || opts === null)
      throw new TypeError(`FakeMap.create takes an options object, got ${describe(opts)}`);
    const type = checkU32('type', opts.type);
    if (type === 0) throw new RangeError('type must be a map type such as MapType.Hash, got 0 (BPF_MAP_TYPE_UNSPEC)');
    const keyCodec = opts.key as Codec<unknown> | undefined;
    const valueCodec = opts.value as Codec<unknown> | undefined;
    const keySize = sizeFrom('key', opts.keySize, keyCodec);
    const valueSize = sizeFrom('value', opts.valueSize, valueCodec);
    if (opts.maxEntries === undefined) throw new TypeError('maxEntries is required');
    const maxEntries = checkU32('maxEntries', opts.maxEntries);
    const flags = checkU32('flags', opts.flags ?? 0);
    const name = checkMapName(opts.name);
    if (opts.numaNode !== undefined) checkU32('numaNode', opts.numaNode);
    if (opts.ifindex !== undefined) checkU32('ifindex', opts.ifindex);
    const rawExtra = opts.mapExtra ?? 0;
    if (typeof rawExtra !== 'number' && typeof rawExtra !== 'bigint')
      throw new TypeError(`mapExtra must be a number or bigint, got ${describe(rawExtra)}`);
    if (typeof rawExtra === 'number' && (!Number.isSafeInteger(rawExtra) || rawExtra < 0))
      throw new RangeError(`mapExtra must be an unsigned 64-bit integer, got ${rawExtra}`);
    const extra = BigInt(rawExtra);
    if (extra < 0n || extra > 0xffff_ffff_ffff_ffffn)
      throw new RangeError(`mapExtra must be an unsigned 64-bit integer, got ${extra}`);
    const traits = TYPES.get(type);
    if (traits === undefined)
      throw new TypeError(
        `FakeMap does not model ${MAP_TYPE_NAMES[type] ?? `map type ${type}`}; it models hash, per-CPU hash, LRU hash, LRU per-CPU hash, array, per-CPU array, queue, stack, bloom filter and LPM trie maps`,
      );
    const refused = createRefusal(traits, keySize, valueSize, maxEntries, flags, extra, type === MapType.BloomFilter);
    if (refused !== undefined)
      throw new BpfError('BPF_MAP_CREATE', errnoNumber(refused), {
        hint: `${MAP_TYPE_NAMES[type]}: check key_size, value_size, max_entries and map_flags against what this map type accepts`,
      });
    return new FakeMap<K, V>(
      type as MapType,
      name,
      traits,
      { keySize, valueSize, maxEntries, flags },
      { key: keyCodec, value: valueCodec },
    );
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once `freeze()` was called. */
  get frozen(): boolean {
    return this.#frozen;
  }

  /** Elements stored now (arrays: `maxEntries`; bloom filters: distinct values pushed). */
  get size(): number {
    return this.#store.size;
  }

  // ---- shared checks ----

  #live(command: string): void {
    if (this.#closed) throw closedError(command);
  }

  #err(command: string, code: ErrnoCode, flags = 0, count?: number): BpfError {
    return fakeError(
      command,
      code,
      { type: this.type, maxEntries: this.maxEntries, frozen: this.#frozen, arrayKeyed: this.#traits.arrayKeyed },
      flags,
      count,
    );
  }

  #typeName(): string {
    return (MAP_TYPE_NAMES[this.type] ?? `type ${this.type}`).replace(/^BPF_MAP_TYPE_/, '').toLowerCase();
  }

  #key(key: unknown, what = 'key'): Uint8Array | null {
    if (this.keySize === 0) {
      if (key === null || key === undefined) return null;
      throw new TypeError(`this ${this.#typeName()} map has no keys (key_size 0): pass null as the ${what}`);
    }
    return checkBytes(what, key, this.keySize, "the map's key_size");
  }

  #out(out: unknown): Uint8Array {
    return checkBytes(
      'out',
      out,
      this.valueBufferSize,
      this.isPerCpu ? 'roundUp(valueSize, 8) × possibleCpus()' : "the map's value_size",
    );
  }

  /** Syscall writes refused (EPERM): frozen, or created read-only. */
  get #writeDenied(): boolean {
    return this.#frozen || !this.#writable;
  }

  /** BPF_F_LOCK where the value has no spin lock, or element flags beyond it: EINVAL. */
  #badLookupFlags(flags: number): boolean {
    return (flags & ~BPF_F_LOCK) !== 0 || ((flags & BPF_F_LOCK) !== 0 && this.#lock < 0);
  }

  /** The whole value bytes an update stores: per-CPU values laid out per CPU. */
  #value(value: unknown): Uint8Array {
    if (!this.isPerCpu) return checkBytes('value', value, this.valueSize, "the map's value_size").slice();
    const ncpu = possibleCpus();
    const stride = roundUp8(this.valueSize);
    const buf = new Uint8Array(this.valueBufferSize);
    if (Array.isArray(value)) {
      const list = arrayElements('value', value);
      if (list.length !== ncpu)
        throw new RangeError(`a per-CPU value needs one buffer per possible CPU: expected ${ncpu}, got ${list.length}`);
      for (let i = 0; i < ncpu; i++)
        buf.set(checkBytes(`value[${i}]`, list[i], this.valueSize, "the map's value_size"), i * stride);
      return buf;
    }
    if (value instanceof Uint8Array) {
      if (value.length === this.valueBufferSize) return value.slice();
      if (value.length === this.valueSize) {
        for (let i = 0; i < ncpu; i++) buf.set(value, i * stride);
        return buf;
      }
      throw new RangeError(
        `value must be ${this.valueBufferSize} bytes (a per-CPU value is ${this.valueSize} bytes (copied to every CPU), or roundUp(value_size, 8) × possibleCpus() laid out as the kernel does), got ${value.length}`,
      );
    }
    throw new TypeError(
      `a per-CPU value must be ${this.valueSize} bytes (copied to every CPU), an array of ${ncpu} such buffers, or ${this.valueBufferSize} bytes laid out as the kernel does; got ${describe(value)}`,
    );
  }

  /** A stored value as lookups return it: in `out`, or a copy; per-CPU: one view per CPU. */
  #result(stored: Uint8Array, out: Uint8Array | undefined): MapValue {
    if (this.#lock >= 0) stored.fill(0, this.#lock, this.#lock + 4);
    if (!this.isPerCpu) {
      if (out === undefined) return stored;
      out.set(stored);
      return out;
    }
    const stride = roundUp8(this.valueSize);
    const n = this.valueBufferSize / stride;
    if (out === undefined) {
      const values = new Array<Uint8Array>(n);
      for (let i = 0; i < n; i++) values[i] = stored.slice(i * stride, i * stride + this.valueSize);
      return values;
    }
    out.set(stored);
    const cached = this.#outViews;
    if (cached !== undefined && cached.out === out) return cached.views as Uint8Array[];
    const views = Object.freeze(Array.from({ length: n }, (_, i) => out.subarray(i * stride, i * stride + this.valueSize)));
    this.#outViews = { out, views };
    return views as Uint8Array[];
  }

  // ---- element operations ----

  /**
   * Looks up the value stored under `key` (a copy, or `opts.out` filled; per-CPU maps: one view per
   * possible CPU); `undefined` when absent.
   * @throws {BpfError} `EINVAL` for flags the map does not take, `EPERM` on a write-only map, `EBADF` once closed.
   * @throws {TypeError} on a bloom filter (use `peek(value)`).
   */
  lookup(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined {
    const out = opts?.out;
    const rawFlags = opts?.flags;
    const command = 'BPF_MAP_LOOKUP_ELEM';
    this.#live(command);
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const k = this.#key(key);
    const o = out === undefined ? undefined : this.#out(out);
    if (this.#store instanceof BloomStore)
      throw new TypeError('a bloom filter holds no values to look up: test membership with peek(value)');
    if (!this.#readable) throw this.#err(command, 'EPERM');
    if (this.#badLookupFlags(flags)) throw this.#err(command, 'EINVAL', flags);
    const v = this.#store.lookup(k);
    return v === undefined ? undefined : this.#result(v, o);
  }

  /**
   * Stores `value` under `key` (per-CPU maps: one value for every CPU, or one per possible CPU).
   * @throws {BpfError} EEXIST (BPF_NOEXIST, key present), ENOENT (BPF_EXIST, key absent), E2BIG (map
   *   full / index out of range; queue or stack full), ENOSPC (LPM trie full), EINVAL (flags), EPERM (frozen), EBADF.
   */
  update(key: Uint8Array | null, value: Uint8Array | readonly Uint8Array[], opts?: UpdateOptions): void {
    const rawFlags = opts?.flags;
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const v = this.#value(value);
    const k = this.#key(key);
    const command = 'BPF_MAP_UPDATE_ELEM';
    this.#live(command);
    this.#store1(command, k, v, flags);
  }

  /** The kernel's update checks and the store, for element and batch updates alike. */
  #store1(command: string, k: Uint8Array | null, v: Uint8Array, flags: number, count?: number): void {
    if (this.#writeDenied) throw this.#err(command, 'EPERM', 0, count);
    if (flags & BPF_F_LOCK && this.#lock < 0) throw this.#err(command, 'EINVAL', flags, count);
    const plain = flags & ~BPF_F_LOCK;
    if (!this.#traits.keyless && plain > EXIST) throw this.#err(command, 'EINVAL', flags, count);
    if (this.#lock >= 0) v.fill(0, this.#lock, this.#lock + 4);
    const r = this.#store.update(k, v, this.#traits.keyless ? flags : plain);
    if (r !== undefined) throw this.#err(command, r, flags, count);
  }

  /**
   * Deletes `key`; false when it was absent.
   * @throws {BpfError} EINVAL on arrays, queues and stacks; EOPNOTSUPP on bloom filters; EPERM (frozen); EBADF.
   */
  delete(key: Uint8Array): boolean {
    const command = 'BPF_MAP_DELETE_ELEM';
    this.#live(command);
    const k = this.#key(key);
    if (this.#traits.arrayKeyed) throw this.#err(command, 'EINVAL'); // BpfMap refuses before the syscall
    if (this.#writeDenied) throw this.#err(command, 'EPERM');
    const r = this.#store.delete(k);
    if (typeof r === 'string') throw this.#err(command, r);
    return r;
  }

  /**
   * Looks up `key` and deletes it in one step (queue/stack: pop); `undefined` when absent.
   * @throws {BpfError} ENOTSUPP on arrays, bloom filters and LPM tries; EINVAL for flags; EPERM (frozen); EBADF.
   */
  lookupAndDelete(key: Uint8Array | null, opts?: LookupOptions): MapValue | undefined {
    const out = opts?.out;
    const rawFlags = opts?.flags;
    const command = 'BPF_MAP_LOOKUP_AND_DELETE_ELEM';
    this.#live(command);
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const k = this.#key(key);
    const o = out === undefined ? undefined : this.#out(out);
    // The kernel checks the flags, then the fd's access, then whether the type has the command.
    if (flags & ~BPF_F_LOCK) throw this.#err(command, 'EINVAL', flags);
    if (flags !== 0 && this.#traits.keyless && this.#traits.lookupAndDelete === undefined)
      throw this.#err(command, 'EINVAL', flags);
    if (flags & BPF_F_LOCK && this.#lock < 0) throw this.#err(command, 'EINVAL', flags);
    if (this.#writeDenied || !this.#readable) throw this.#err(command, 'EPERM');
    if (this.#traits.lookupAndDelete !== undefined) throw this.#err(command, this.#traits.lookupAndDelete);
    const v = this.#store.lookupAndDelete(k);
    return v === undefined ? undefined : this.#result(v, o);
  }

  /**
   * The key after `key` in the map's order (no key: the first key); a key that is not in the map
   * restarts at the first key. Arrays: index order; LPM tries: post-order (more specific first).
   * @returns the next key, or `undefined` at the end.
   * @throws {BpfError} EINVAL on queues and stacks, EOPNOTSUPP on bloom filters, EBADF once closed.
   */
  getNextKey(key?: Uint8Array | null): Uint8Array | undefined {
    const command = 'BPF_MAP_GET_NEXT_KEY';
    this.#live(command);
    const k = key === undefined || key === null ? null : checkBytes('key', key, this.keySize, "the map's key_size");
    if (!this.#readable) throw this.#err(command, 'EPERM');
    const r = this.#store.nextKey(k);
    if (typeof r === 'string') throw this.#err(command, r);
    return r;
  }

  #keyless(op: string): void {
    if (this.keySize !== 0)
      throw new TypeError(
        `${op}() is for queue, stack and bloom filter maps; this is a ${this.#typeName()} map (use update/lookup)`,
      );
  }

  /**
   * Pushes `value` onto a queue or stack (`BPF_EXIST`: a full one drops its oldest element), or adds it to a bloom filter.
   * @throws {TypeError} on maps with keys. @throws {BpfError} E2BIG when full; EINVAL for BPF_NOEXIST; EBADF once closed.
   */
  push(value: Uint8Array, opts?: UpdateOptions): void {
    this.#live('BPF_MAP_UPDATE_ELEM');
    this.#keyless('push');
    this.update(null, value, opts);
  }

  /** Removes and returns the head of a queue or stack, or `undefined` when empty. @throws {BpfError} EBADF once closed. */
  pop(): Uint8Array | undefined {
    this.#live('BPF_MAP_LOOKUP_AND_DELETE_ELEM');
    this.#keyless('pop');
    return this.lookupAndDelete(null) as Uint8Array | undefined;
  }

  /** Returns the head of a queue or stack without removing it, or `undefined` when empty. */
  peek(): Uint8Array | undefined;
  /** Bloom filter: true when `value` was pushed (the fake has no false positives). */
  peek(value: Uint8Array): boolean;
  peek(value?: Uint8Array): Uint8Array | boolean | undefined {
    this.#live('BPF_MAP_LOOKUP_ELEM');
    this.#keyless('peek');
    if (this.#store instanceof BloomStore) {
      const v = checkBytes('value', value, this.valueSize, "the bloom filter's value_size");
      if (!this.#readable) throw this.#err('BPF_MAP_LOOKUP_ELEM', 'EPERM');
      return this.#store.has(v);
    }
    if (value !== undefined) throw new TypeError('peek() takes no value on queue and stack maps');
    return this.lookup(null) as Uint8Array | undefined;
  }

  // ---- iteration ----

  /** Keys with get-next-key, each at most once per pass (as `BpfMap`'s walk, including its step budget). */
  *#walkKeys(): Generator<Uint8Array, void, undefined> {
    const seen = new Set<string>();
    const budget = Math.max(4 * this.maxEntries, 1024) + 64;
    let key: Uint8Array | undefined;
    for (let steps = 0; ; steps++) {
      if (steps > budget) throw new IterationAbortedError(steps);
      const next = this.getNextKey(key);
      if (next === undefined) return;
      key = next;
      const id = keyId(next);
      if (seen.has(id)) continue;
      seen.add(id);
      yield next;
    }
  }

  /** The keys: hash and array maps in batch order, other types by get-next-key; one pass yields each key at most once. */
  keys(): IterableIterator<Uint8Array> {
    this.#live('BPF_MAP_GET_NEXT_KEY');
    if (!this.#traits.batchWalk) return this.#walkKeys();
    return this.#batchKeys();
  }

  *#batchKeys(): Generator<Uint8Array, void, undefined> {
    const ks = this.keySize;
    for (const c of this.#walkBatch(false, undefined))
      for (let i = 0; i < c.count; i++) yield c.keys.subarray(i * ks, (i + 1) * ks);
  }

  /** `[key, value]` pairs (per-CPU values: one view per CPU). */
  *entries(): IterableIterator<[Uint8Array, MapValue]> {
    this.#live('BPF_MAP_LOOKUP_ELEM');
    if (!this.#traits.batchWalk) {
      for (const key of this.#walkKeys()) {
        const value = this.lookup(key);
        if (value !== undefined) yield [key, value];
      }
      return;
    }
    const ks = this.keySize;
    const vs = this.valueBufferSize;
    for (const c of this.#walkBatch(false, undefined))
      for (let i = 0; i < c.count; i++)
        yield [c.keys.subarray(i * ks, (i + 1) * ks), this.#views(c.values.subarray(i * vs, (i + 1) * vs))];
  }

  #views(buf: Uint8Array): MapValue {
    if (!this.isPerCpu) return buf;
    const stride = roundUp8(this.valueSize);
    return Array.from({ length: this.valueBufferSize / stride }, (_, i) => buf.subarray(i * stride, i * stride + this.valueSize));
  }

  /** The raw chunks behind `entries()`: `{ count, keys, values }` (per-CPU values in the kernel's layout). */
  *chunks(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    this.#live('BPF_MAP_LOOKUP_ELEM');
    if (this.#traits.batchWalk) yield* this.#walkBatch(false, opts);
    else {
      const size = checkInt('batchSize', opts?.batchSize ?? BATCH_WALK_SIZE, 1, 1 << 20);
      const f = opts?.flags;
      yield* this.#elementChunks(false, size, f === undefined ? 0 : checkFlags('flags', f));
    }
  }

  /** Same as `entries()`. */
  [Symbol.iterator](): IterableIterator<[Uint8Array, MapValue]> {
    return this.entries();
  }

  // ---- batches ----

  /** Walks the whole map in chunks of `batchSize` elements (default 256). */
  *lookupBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    yield* this.#walkBatch(false, opts);
  }

  /**
   * `lookupBatch` that deletes what it returns.
   * @throws {BpfError} EPERM when frozen; on types without it, the element command's error (ENOTSUPP, EINVAL, EOPNOTSUPP).
   */
  *lookupAndDeleteBatch(opts?: BatchWalkOptions): IterableIterator<BatchChunk> {
    yield* this.#walkBatch(true, opts);
  }

  *#walkBatch(del: boolean, opts: BatchWalkOptions | undefined): Generator<BatchChunk, void, undefined> {
    const command = del ? 'BPF_MAP_LOOKUP_AND_DELETE_BATCH' : 'BPF_MAP_LOOKUP_BATCH';
    this.#live(command);
    const size = checkInt('batchSize', opts?.batchSize ?? BATCH_WALK_SIZE, 1, 1 << 20);
    const rawFlags = opts?.flags;
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const reuse = opts?.reuse === true;
    // The kernel checks the fd's access before it looks for the command.
    if (!this.#readable || (del && this.#writeDenied)) throw this.#err(command, 'EPERM', 0, 0);
    if (!(del ? this.#traits.batch.lookupAndDelete : this.#traits.batch.lookup)) {
      yield* this.#elementChunks(del, size, flags);
      return;
    }
    if (this.#badLookupFlags(flags)) throw this.#err(command, 'EINVAL', flags, 0);
    let keys: Uint8Array | undefined;
    let values: Uint8Array | undefined;
    let cursor: unknown = null;
    for (;;) {
      if (this.#closed) throw closedError(command);
      if (!reuse || keys === undefined) {
        keys = new Uint8Array(size * this.keySize);
        values = new Uint8Array(size * this.valueBufferSize);
      }
      const vals = values as Uint8Array;
      let n = 0;
      let done = false;
      const taken: Uint8Array[] = [];
      while (n < size) {
        const e = this.#store.walkFrom(cursor);
        if (e === undefined) {
          done = true;
          break;
        }
        cursor = e.cursor;
        keys.set(e.key, n * this.keySize);
        const v = e.value.slice();
        if (this.#lock >= 0) v.fill(0, this.#lock, this.#lock + 4);
        vals.set(v, n * this.valueBufferSize);
        if (del) taken.push(e.key);
        n++;
      }
      if (del) for (const k of taken) this.#store.delete(k);
      if (n > 0) yield { count: n, keys: keys.subarray(0, n * this.keySize), values: vals.subarray(0, n * this.valueBufferSize) };
      if (done) return;
    }
  }

  /** What `BpfMap` does where the kernel has no batch command: get-next-key plus one element command per key. */
  *#elementChunks(del: boolean, size: number, flags: number): Generator<BatchChunk, void, undefined> {
    let keys = new Uint8Array(size * this.keySize);
    let values = new Uint8Array(size * this.valueBufferSize);
    let n = 0;
    const keyList = del ? [...this.#walkKeys()] : this.#walkKeys();
    for (const key of keyList) {
      const out = values.subarray(n * this.valueBufferSize, (n + 1) * this.valueBufferSize);
      const o = flags ? { out, flags } : { out };
      const v = del ? this.lookupAndDelete(key, o) : this.lookup(key, o);
      if (v === undefined) continue;
      keys.set(key, n * this.keySize);
      if (++n === size) {
        yield { count: n, keys, values };
        keys = new Uint8Array(size * this.keySize);
        values = new Uint8Array(size * this.valueBufferSize);
        n = 0;
      }
    }
    if (n > 0) yield { count: n, keys: keys.subarray(0, n * this.keySize), values: values.subarray(0, n * this.valueBufferSize) };
  }

  /** Flat bytes of `count` elements of `width`, from a flat buffer or an array of per-element buffers. */
  #flat(
    what: string,
    input: unknown,
    width: number,
    element: (v: unknown, i: number) => Uint8Array,
  ): { bytes: Uint8Array; count: number } {
    if (input instanceof Uint8Array) {
      const n = input.length;
      if (width === 0 || n % width !== 0 || n === 0)
        throw new RangeError(`${what} must be a non-empty multiple of ${width} bytes, got ${n}`);
      return { bytes: input, count: n / width };
    }
    if (!Array.isArray(input))
      throw new TypeError(`${what} must be a flat Uint8Array or a non-empty array of buffers, got ${describe(input)}`);
    const list = arrayElements(what, input);
    if (list.length === 0)
      throw new TypeError(`${what} must be a flat Uint8Array or a non-empty array of buffers, got an empty array`);
    const bytes = new Uint8Array(list.length * width);
    for (let i = 0; i < list.length; i++) bytes.set(element(list[i], i), i * width);
    return { bytes, count: list.length };
  }

  /**
   * Updates many elements, in order, stopping at the first failure.
   * @returns how many were applied. @throws {BpfError} whose `count` says how many were applied before the failure.
   */
  updateBatch(
    keys: Uint8Array | readonly Uint8Array[],
    values: Uint8Array | readonly Uint8Array[],
    opts?: UpdateOptions,
  ): number {
    const rawFlags = opts?.flags;
    const command = 'BPF_MAP_UPDATE_BATCH';
    this.#live(command);
    const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
    const k = this.#flat('keys', keys, this.keySize, (v, i) => checkBytes(`keys[${i}]`, v, this.keySize, "the map's key_size"));
    const v = this.#flat('values', values, this.valueBufferSize, (x, i) => {
      try {
        return this.#value(x);
      } catch (err) {
        throw err instanceof Error ? Object.assign(err, { message: `values[${i}]: ${err.message}` }) : err;
      }
    });
    if (k.count !== v.count) throw new RangeError(`keys hold ${k.count} elements but values hold ${v.count}`);
    const key = (i: number) => k.bytes.slice(i * this.keySize, (i + 1) * this.keySize);
    const value = (i: number) => v.bytes.slice(i * this.valueBufferSize, (i + 1) * this.valueBufferSize);
    if ((flags & ~BPF_F_LOCK) === 0 && this.#traits.batch.update) {
      // The kernel's batch: access and flags first (nothing processed), then element by element.
      if (this.#writeDenied) throw this.#err(command, 'EPERM', 0, 0);
      if (flags & BPF_F_LOCK && this.#lock < 0) throw this.#err(command, 'EINVAL', flags, 0);
      for (let i = 0; i < k.count; i++) this.#store1(command, key(i), value(i), flags, i);
      return k.count;
    }
    // BPF_NOEXIST/BPF_EXIST (which the kernel's batch refuses): element updates, as BpfMap does.
    for (let i = 0; i < k.count; i++) {
      try {
        this.update(key(i), value(i), { flags });
      } catch (err) {
        if (BpfError.is(err)) throw batchError(command, err, i);
        throw err;
      }
    }
    return k.count;
  }

  /**
   * Looks up n keys (n × keySize bytes back to back), as `BpfMap.lookupMany`: one `lookup` per key.
   * @returns `count`, `found` (1 where key i is present) and `values` (slot i: its value, or zeros).
   * @throws {RangeError} for keys not a non-empty multiple of keySize, values/found of the wrong size.
   * @throws {BpfError} EBADF once closed; EPERM on a write-only map (`count` 0).
   */
  lookupMany(keys: Uint8Array, opts?: LookupManyOptions): LookupManyResult {
    const rawValues = opts?.values;
    const rawFound = opts?.found;
    const command = 'BPF_MAP_LOOKUP_ELEM';
    this.#live(command);
    const ks = this.keySize;
    const vs = this.valueBufferSize;
    if (ks === 0) throw new TypeError(`lookupMany() looks up keys; this map has none (key_size 0)`);
    if (!(keys instanceof Uint8Array))
      throw new TypeError(`keys must be a Uint8Array of n × key_size (${ks}) bytes, got ${describe(keys)}`);
    if (keys.length === 0 || keys.length % ks !== 0)
      throw new RangeError(`keys must be a non-empty multiple of the key size (${ks} bytes), got ${keys.length}`);
    const n = keys.length / ks;
    const values = rawValues === undefined ? new Uint8Array(n * vs) : checkBytes('values', rawValues, n * vs, 'n whole values');
    const found = rawFound === undefined ? new Uint8Array(n) : checkBytes('found', rawFound, n, 'one byte per key');
    const k = keys.slice(); // read before any result is written (the buffers may share memory)
    const out = new Uint8Array(vs);
    let count = 0;
    for (let i = 0; i < n; i++) {
      let v: MapValue | undefined;
      try {
        v = this.lookup(k.subarray(i * ks, (i + 1) * ks), { out });
      } catch (err) {
        if (err instanceof BpfError) throw this.#err(command, err.code as ErrnoCode, 0, i);
        throw err;
      }
      found[i] = v === undefined ? 0 : 1;
      if (v === undefined) values.fill(0, i * vs, (i + 1) * vs);
      else {
        values.set(out, i * vs);
        count++;
      }
    }
    return { count, found, values };
  }

  /**
   * Deletes many keys, in order, stopping at the first that is absent.
   * @returns how many were deleted. @throws {BpfError} ENOENT with `count` deleted before it; EPERM when frozen.
   */
  deleteBatch(keys: Uint8Array | readonly Uint8Array[]): number {
    const command = 'BPF_MAP_DELETE_BATCH';
    this.#live(command);
    const k = this.#flat('keys', keys, this.keySize, (v, i) => checkBytes(`keys[${i}]`, v, this.keySize, "the map's key_size"));
    if (this.#writeDenied) throw this.#err(command, 'EPERM', 0, 0);
    const key = (i: number) => k.bytes.subarray(i * this.keySize, (i + 1) * this.keySize);
    if (this.#traits.batch.delete) {
      for (let i = 0; i < k.count; i++) {
        const r = this.#store.delete(key(i));
        if (r === false) throw this.#err(command, 'ENOENT', 0, i);
        if (typeof r === 'string') throw this.#err(command, r, 0, i);
      }
      return k.count;
    }
    for (let i = 0; i < k.count; i++)
      if (!this.delete(key(i)))
        throw new BpfError(command, errnoNumber('ENOENT'), { count: i, hint: `keys[${i}] is not in the map` });
    return k.count;
  }

  // ---- integers ----

  #intKey(key: unknown, command: string): Uint8Array {
    if (this.keySize < 1 || this.keySize > 8)
      throw new TypeError(`${command}: integer keys need a key_size of 1 to 8 bytes; this map's is ${this.keySize}`);
    const out = new Uint8Array(this.keySize);
    writeUintLE(out, 0, this.keySize, toUint(key, this.keySize * 8, 'key'));
    return out;
  }

  #intWidth(command: string): void {
    if (this.valueSize < 1 || this.valueSize > 8)
      throw new TypeError(`${command}: integer values need a value_size of 1 to 8 bytes; this map's is ${this.valueSize}`);
  }

  /** Looks up an integer key; the value as a little-endian unsigned integer (per-CPU: one per CPU), or `undefined`. */
  lookupInt(key: number | bigint, opts?: Omit<LookupOptions, 'out'>): bigint | bigint[] | undefined {
    const flags = opts?.flags;
    this.#live('BPF_MAP_LOOKUP_ELEM');
    this.#intWidth('lookupInt');
    const v = this.lookup(this.#intKey(key, 'lookupInt'), flags === undefined ? undefined : { flags });
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.map((b) => readUintLE(b, 0, this.valueSize)) : readUintLE(v as Uint8Array, 0, this.valueSize);
  }

  /** Stores integer `value` under integer `key` (per-CPU: one value for every CPU, or an array of one per CPU). */
  updateInt(key: number | bigint, value: number | bigint | ReadonlyArray<number | bigint>, opts?: UpdateOptions): void {
    const flags = opts?.flags;
    this.#live('BPF_MAP_UPDATE_ELEM');
    this.#intWidth('updateInt');
    const enc = (x: unknown, path: string) => {
      const b = new Uint8Array(this.valueSize);
      writeUintLE(b, 0, this.valueSize, toUint(x, this.valueSize * 8, path));
      return b;
    };
    const v = Array.isArray(value) ? arrayElements('value', value).map((x, i) => enc(x, `value[${i}]`)) : enc(value, 'value');
    this.update(this.#intKey(key, 'updateInt'), v, flags === undefined ? undefined : { flags });
  }

  /** Deletes an integer key; false when absent. */
  deleteInt(key: number | bigint): boolean {
    this.#live('BPF_MAP_DELETE_ELEM');
    return this.delete(this.#intKey(key, 'deleteInt'));
  }

  /** The integer key after `key` (omitted: the first key), or `undefined` at the end. */
  getNextKeyInt(key?: number | bigint): bigint | undefined {
    this.#live('BPF_MAP_GET_NEXT_KEY');
    const k = key === undefined ? undefined : this.#intKey(key, 'getNextKeyInt');
    const next = this.getNextKey(k);
    return next === undefined ? undefined : readUintLE(next, 0, this.keySize);
  }

  // ---- structs and other codecs ----

  #fits(type: Codec<unknown>, side: 'key' | 'value', command: string): void {
    if (typeof type !== 'object' || type === null || typeof (type as Codec<unknown>).encode !== 'function')
      throw new TypeError(`${command}: type must be a codec (defineStruct, u32, …), got ${describe(type)}`);
    const size = side === 'key' ? this.keySize : this.valueSize;
    if (type.size !== size)
      throw new RangeError(`${command}: ${type.name} is ${type.size} bytes but the map's ${side}_size is ${size}`);
  }

  #encodeValue<R>(record: R | readonly R[], type: Codec<R>): Uint8Array {
    const buf = new Uint8Array(this.valueBufferSize);
    if (!this.isPerCpu) return type.encode(record as R, buf, 0);
    const perCpu = Array.isArray(record) && (type.kind !== 'array' || Array.isArray(record[0]) || ArrayBuffer.isView(record[0]));
    const ncpu = possibleCpus();
    const stride = roundUp8(this.valueSize);
    if (perCpu) {
      const list = arrayElements('value', record as readonly R[]) as R[];
      if (list.length !== ncpu)
        throw new RangeError(`a per-CPU value needs one record per possible CPU: expected ${ncpu}, got ${list.length}`);
      for (let i = 0; i < ncpu; i++) type.encode(list[i] as R, buf, i * stride);
    } else {
      type.encode(record as R, buf, 0);
      for (let i = 1; i < ncpu; i++) buf.copyWithin(i * stride, 0, this.valueSize);
    }
    return buf;
  }

  #decodeValue<R>(v: MapValue, type: Codec<R>): R | R[] {
    return Array.isArray(v) ? v.map((slot) => type.decode(slot)) : type.decode(v as Uint8Array);
  }

  /** Looks up `keyBytes` and decodes the value with `type` (per-CPU: one record per CPU); `undefined` when absent. */
  lookupStruct<R>(keyBytes: Uint8Array | null, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined {
    const flags = opts?.flags;
    this.#live('BPF_MAP_LOOKUP_ELEM');
    this.#fits(type, 'value', 'lookupStruct');
    const v = this.lookup(keyBytes, flags === undefined ? undefined : { flags });
    return v === undefined ? undefined : this.#decodeValue(v, type);
  }

  /** `lookupStruct` with an integer key. */
  lookupStructInt<R>(key: number | bigint, type: Codec<R>, opts?: Omit<LookupOptions, 'out'>): R | R[] | undefined {
    const flags = opts?.flags;
    this.#live('BPF_MAP_LOOKUP_ELEM');
    this.#fits(type, 'value', 'lookupStructInt');
    return this.lookupStruct(this.#intKey(key, 'lookupStructInt'), type, flags === undefined ? undefined : { flags });
  }

  /** Encodes `record` with `type` and stores it under `keyBytes`. @throws {TypeError|RangeError} naming the field path. */
  updateStruct<R>(keyBytes: Uint8Array | null, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void {
    const flags = opts?.flags;
    this.#live('BPF_MAP_UPDATE_ELEM');
    this.#fits(type, 'value', 'updateStruct');
    this.update(keyBytes, this.#encodeValue(record, type), flags === undefined ? undefined : { flags });
  }

  /** `updateStruct` with an integer key. */
  updateStructInt<R>(key: number | bigint, record: R | readonly R[], type: Codec<R>, opts?: UpdateOptions): void {
    const flags = opts?.flags;
    this.#live('BPF_MAP_UPDATE_ELEM');
    this.#fits(type, 'value', 'updateStructInt');
    const value = this.#encodeValue(record, type);
    this.update(this.#intKey(key, 'updateStructInt'), value, flags === undefined ? undefined : { flags });
  }

  /** Deletes the key `keyRecord` encodes to with `type`; false when absent. */
  deleteStruct<R>(keyRecord: R, type: Codec<R>): boolean {
    this.#live('BPF_MAP_DELETE_ELEM');
    this.#fits(type, 'key', 'deleteStruct');
    return this.delete(type.encode(keyRecord));
  }

  /** The key after `keyRecord` (omitted: the first), decoded with `type`; `undefined` at the end. */
  getNextKeyStruct<R>(type: Codec<R>, keyRecord?: R): R | undefined {
    this.#live('BPF_MAP_GET_NEXT_KEY');
    this.#fits(type, 'key', 'getNextKeyStruct');
    const next = this.getNextKey(keyRecord === undefined ? undefined : type.encode(keyRecord));
    return next === undefined ? undefined : type.decode(next);
  }

  /**
   * A `TypedMap` over this fake (the same class `BpfMap.typed()` returns). With no arguments, the
   * `key`/`value` codecs the map was created with.
   * @throws {RangeError} when a codec's size differs from the map's. @throws {TypeError} without codecs.
   */
  typed<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): TypedMap<TK, TV> {
    this.#live('BPF_MAP_LOOKUP_ELEM');
    const k = (keyType ?? this.#keyCodec) as Codec<TK> | undefined;
    const v = (valueType ?? this.#valueCodec) as Codec<TV> | undefined;
    if (!k || !v) throw new TypeError('typed() needs a key type and a value type (or a map created with key and value codecs)');
    return new TypedMap(this, k, v);
  }

  /** `typed()` for per-CPU maps, typed so that `get` returns `V[]`. @throws {TypeError} on other maps. */
  typedPerCpu<TK = K, TV = V>(keyType?: Codec<TK>, valueType?: Codec<TV>): PerCpuTypedMap<TK, TV> {
    if (!this.isPerCpu) throw new TypeError(`typedPerCpu() is for per-CPU maps; this is a ${this.#typeName()} map (use typed())`);
    return this.typed(keyType, valueType) as unknown as PerCpuTypedMap<TK, TV>;
  }

  // ---- objects ----

  /**
   * Freezes the map: later writes from userspace fail with EPERM.
   * @throws {BpfError} EPERM when already frozen (as the kernel: a frozen map's fd is no longer writable);
   *   ENOTSUPP for a value with a `bpf_spin_lock`; EBADF.
   */
  freeze(): void {
    const command = 'BPF_MAP_FREEZE';
    this.#live(command);
    if (this.#lock >= 0) throw this.#err(command, 'ENOTSUPP'); // maps with special fields cannot be frozen
    if (this.#writeDenied) throw this.#err(command, 'EPERM');
    this.#frozen = true;
  }

  /** Closes the map: every later call throws `BpfError` EBADF. Idempotent. */
  close(): void {
    this.#closed = true;
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
