/**
 * `TypedMap<K, V>`: a `Map`-shaped view of a `BpfMap` through key and value
 * codecs. Each method is the matching `BpfMap` operation (one syscall) plus
 * encoding/decoding; iteration reads the map in chunks (`BpfMap.chunks`).
 *
 * Keys and values are encoded into scratch buffers owned by the view and
 * decoded straight from them, so `get` allocates only the record it returns.
 * A view is therefore not reentrant across threads — but JavaScript is not
 * either; the scratch is never exposed.
 */
import { type Codec, rootPath, viewOf } from '../codec/codec.js';
import { type PerCpuLayout, encodeValueInto, ownOpts, perCpuLayout, readPerCpu } from './values.js';
import type { BpfMapLike } from './interface.js';
import type { LookupOptions, UpdateOptions } from './map.js';

/**
 * A `Map`-shaped view of a `BpfMap` (or any `BpfMapLike`) through a key codec and a value codec (see `BpfMap.typed`):
 * each method is one map command plus encoding and decoding.
 * Errors are the underlying `BpfMap` method's (`BpfError` with the kernel's errno; `RangeError`
 * or `TypeError` from the codecs for a record that does not fit, before any syscall).
 */
export class TypedMap<K, V> {
  /** The map the view reads and writes: a `BpfMap`, or a `FakeMap` from `bpfmap/testing`. */
  readonly map: BpfMapLike;
  readonly keyType: Codec<K>;
  readonly valueType: Codec<V>;
  readonly #key: Uint8Array;
  readonly #keyView: DataView;
  readonly #value: Uint8Array;
  readonly #valueView: DataView;
  readonly #lookupOpts: LookupOptions;
  /** The per-CPU layout of values, or undefined on maps with one value per key. */
  readonly #perCpu: PerCpuLayout | undefined;
  /** The key's root in error paths (`flow`, `u32`), computed once. */
  readonly #keyPath: string;
  /** Keys with padding (structs, arrays of odd sizes…) are zeroed before each encode; scalars fill every byte. */
  readonly #keyZero: boolean;
  /** The scratch key is being written: a record getter that uses this view gets a key of its own. */
  #keyBusy = false;
  #enc: Uint8Array | undefined;
  #encView: DataView | undefined;
  #encBusy = false;

  /** Use `map.typed(keyType, valueType)`. */
  constructor(map: BpfMapLike, keyType: Codec<K>, valueType: Codec<V>) {
    if (keyType.size !== map.keySize)
      throw new RangeError(`key type ${keyType.name} is ${keyType.size} bytes but the map's key_size is ${map.keySize}`);
    if (valueType.size !== map.valueSize)
      throw new RangeError(
        `value type ${valueType.name} is ${valueType.size} bytes but the map's value_size is ${map.valueSize}`,
      );
    this.map = map;
    this.keyType = keyType;
    this.valueType = valueType;
    this.#key = new Uint8Array(Math.max(map.keySize, 1));
    this.#keyView = viewOf(this.#key);
    this.#value = new Uint8Array(map.valueBufferSize);
    this.#valueView = viewOf(this.#value);
    this.#lookupOpts = { out: this.#value };
    this.#perCpu = map.isPerCpu ? perCpuLayout(map.valueSize) : undefined;
    this.#keyPath = rootPath(keyType);
    this.#keyZero = keyType.kind !== 'scalar';
  }

  /** Encodes `key` into the scratch key (zeroed first: padding bytes are part of a hash key). */
  #encodeKey(key: K): Uint8Array | null {
    if (this.map.keySize === 0) return null;
    if (!this.#keyZero) {
      // Scalars: the codec checks the number or bigint; no user code runs.
      this.keyType.write(this.#keyView, 0, key, this.#keyPath);
      return this.#key;
    }
    // Records: their getters run while the key is written, and may use this view.
    if (this.#keyBusy) return this.keyType.encode(key);
    this.#keyBusy = true;
    try {
      this.#key.fill(0);
      this.keyType.write(this.#keyView, 0, key, this.#keyPath);
    } finally {
      this.#keyBusy = false;
    }
    return this.#key;
  }

  /** Decodes a whole value (per-CPU: one record per CPU) at `offset` of `view`. */
  #decode(view: DataView, offset: number): V | V[] {
    const l = this.#perCpu;
    return l === undefined ? this.valueType.read(view, offset) : readPerCpu(view, offset, l, this.valueType);
  }

  /** The value under `key` (per-CPU maps: one per possible CPU), or `undefined` when absent. */
  get(key: K): V | undefined {
    const found = this.map.lookup(this.#encodeKey(key), this.#lookupOpts);
    return found === undefined ? undefined : (this.#decode(this.#valueView, 0) as V);
  }

  /** Stores `value` under `key` (per-CPU maps: one value for every CPU, or an array of one per CPU). */
  set(key: K, value: V, opts?: UpdateOptions): this {
    // The option, then the value (record getters run), then the key: once the key is in the
    // scratch no user code runs before the syscall.
    const o = ownOpts(opts) as UpdateOptions | undefined;
    const v = this.#encodeValue(value);
    this.map.update(this.#encodeKey(key), v, o);
    return this;
  }

  #encodeValue(value: V): Uint8Array {
    const m = this.map;
    if (this.#encBusy) return encodeValueInto(new Uint8Array(m.valueBufferSize), m, value, this.valueType);
    if (this.#enc === undefined) {
      this.#enc = new Uint8Array(m.valueBufferSize);
      this.#encView = viewOf(this.#enc);
    }
    this.#encBusy = true;
    try {
      return encodeValueInto(this.#enc, m, value, this.valueType, this.#encView);
    } finally {
      this.#encBusy = false;
    }
  }

  /** True when `key` is in the map (one lookup). @throws {BpfError} as `BpfMap.lookup`. */
  has(key: K): boolean {
    return this.map.lookup(this.#encodeKey(key), this.#lookupOpts) !== undefined;
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: K): boolean {
    const k = this.#encodeKey(key);
    if (k === null) throw new TypeError(`delete() needs a map with keys; this map's key_size is 0`);
    return this.map.delete(k);
  }

  /** The keys, decoded, read in chunks (`BpfMap.chunks`). */
  *keys(): IterableIterator<K> {
    const ks = this.map.keySize;
    for (const c of this.map.chunks()) {
      const view = viewOf(c.keys);
      for (let i = 0; i < c.count; i++) yield this.keyType.read(view, i * ks);
    }
  }

  /** The values, decoded, read in chunks (`BpfMap.chunks`). */
  *values(): IterableIterator<V> {
    const vs = this.map.valueBufferSize;
    for (const c of this.map.chunks()) {
      const view = viewOf(c.values);
      for (let i = 0; i < c.count; i++) yield this.#decode(view, i * vs) as V;
    }
  }

  /** `[key, value]` pairs, decoded, read in chunks (`BpfMap.chunks`). */
  *entries(): IterableIterator<[K, V]> {
    const ks = this.map.keySize;
    const vs = this.map.valueBufferSize;
    for (const c of this.map.chunks()) {
      const kv = viewOf(c.keys);
      const vv = viewOf(c.values);
      for (let i = 0; i < c.count; i++) yield [this.keyType.read(kv, i * ks), this.#decode(vv, i * vs) as V];
    }
  }

  /** Same as `entries()`. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** A typed view of a per-CPU map: `get` returns one value per possible CPU; `set` takes one value or one per CPU. */
export interface PerCpuTypedMap<K, V> {
  /** The map the view reads and writes: a `BpfMap`, or a `FakeMap` from `bpfmap/testing`. */
  readonly map: BpfMapLike;
  /** One value per possible CPU, or undefined when `key` is absent. @throws {BpfError} as `BpfMap.lookup`. */
  get(key: K): V[] | undefined;
  /**
   * Stores one value on every CPU, or one value per possible CPU.
   * @throws {RangeError} when an array's length is not the number of possible CPUs.
   * @throws {BpfError} as `BpfMap.update` (E2BIG when full, EEXIST/ENOENT with `BPF_NOEXIST`/`BPF_EXIST`).
   */
  set(key: K, value: V | V[], opts?: UpdateOptions): this;
  /** True when `key` is in the map. */
  has(key: K): boolean;
  /** Deletes `key`; false when it was absent. @throws {BpfError} EINVAL on per-CPU arrays (elements cannot be deleted). */
  delete(key: K): boolean;
  /** The keys, decoded. */
  keys(): IterableIterator<K>;
  /** Per key, one decoded value per possible CPU. */
  values(): IterableIterator<V[]>;
  /** `[key, perCpuValues]` pairs. */
  entries(): IterableIterator<[K, V[]]>;
  /** Same as `entries()`. */
  [Symbol.iterator](): IterableIterator<[K, V[]]>;
}
