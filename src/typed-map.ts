/**
 * `TypedMap<K, V>`: a `Map`-shaped view of a `BpfMap` through key and value
 * codecs. Each method is the matching `BpfMap` operation (one syscall; the
 * iterators walk with get-next-key, see iterate.ts) plus encoding/decoding.
 */
import type { Codec } from './codec/codec.js';
import type { BpfMap, UpdateOptions } from './map.js';

export class TypedMap<K, V> {
  readonly map: BpfMap;
  readonly keyType: Codec<K>;
  readonly valueType: Codec<V>;

  /** Use `map.typed(keyType, valueType)`. */
  constructor(map: BpfMap, keyType: Codec<K>, valueType: Codec<V>) {
    if (keyType.size !== map.keySize)
      throw new RangeError(`key type ${keyType.name} is ${keyType.size} bytes but the map's key_size is ${map.keySize}`);
    if (valueType.size !== map.valueSize)
      throw new RangeError(
        `value type ${valueType.name} is ${valueType.size} bytes but the map's value_size is ${map.valueSize}`,
      );
    this.map = map;
    this.keyType = keyType;
    this.valueType = valueType;
  }

  /** The value under `key` (per-CPU maps: one per possible CPU), or `undefined` when absent. */
  get(key: K): V | undefined {
    return this.map.lookupStruct(this.keyType.encode(key), this.valueType) as V | undefined;
  }

  /** Stores `value` under `key` (per-CPU maps: one value for every CPU, or an array of one per CPU). */
  set(key: K, value: V, opts?: UpdateOptions): this {
    this.map.updateStruct(this.keyType.encode(key), value, this.valueType, opts);
    return this;
  }

  has(key: K): boolean {
    return this.map.lookup(this.keyType.encode(key)) !== undefined;
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: K): boolean {
    return this.map.delete(this.keyType.encode(key));
  }

  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.keyType.decode(k);
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const k of this.map.keys()) {
      const v = this.map.lookupStruct(k, this.valueType) as V | undefined;
      if (v !== undefined) yield [this.keyType.decode(k), v];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** A typed view of a per-CPU map: `get` returns one value per possible CPU; `set` takes one value or one per CPU. */
export interface PerCpuTypedMap<K, V> {
  readonly map: BpfMap;
  get(key: K): V[] | undefined;
  set(key: K, value: V | V[], opts?: UpdateOptions): this;
  has(key: K): boolean;
  delete(key: K): boolean;
  keys(): IterableIterator<K>;
  values(): IterableIterator<V[]>;
  entries(): IterableIterator<[K, V[]]>;
  [Symbol.iterator](): IterableIterator<[K, V[]]>;
}
