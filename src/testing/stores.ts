/**
 * The in-memory stores behind `FakeMap`, one per family of map types, each with the kernel's
 * userspace semantics for its family. Keys are `keySize` bytes, values whole value buffers
 * (`valueBufferSize` bytes: per-CPU values already laid out per CPU). A store returns an errno
 * name where the kernel fails; `FakeMap` turns it into the `BpfError` with the right command.
 *
 * Stores copy what they are given and what they hand out, so callers' buffers never alias them.
 */
import type { ErrnoCode } from '../index.js';

/** BPF_NOEXIST / BPF_EXIST, as update flags without BPF_F_LOCK. */
const NOEXIST = 1;
const EXIST = 2;

/** What every store does; unsupported operations are decided by the type table, not here. */
export interface Store {
  /** Elements stored now. */
  readonly size: number;
  /** The value under `key` (queue/stack: the head), or undefined. */
  lookup(key: Uint8Array | null): Uint8Array | undefined;
  /** Stores a value (`flags`: BPF_ANY/NOEXIST/EXIST); an errno name where the kernel refuses. */
  update(key: Uint8Array | null, value: Uint8Array, flags: number): ErrnoCode | undefined;
  /** Removes `key`: true when it was there, or an errno name. */
  delete(key: Uint8Array | null): boolean | ErrnoCode;
  /** Removes and returns (queue/stack: pop). */
  lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined;
  /** The key after `key` (null: the first), undefined at the end, or an errno name. */
  nextKey(key: Uint8Array | null): Uint8Array | undefined | ErrnoCode;
  /** The keys in the store's order from after `cursor` (null: from the start), for batch walks. */
  walkFrom(cursor: unknown): { key: Uint8Array; value: Uint8Array; cursor: unknown } | undefined;
}

/** The bytes of `b` as a string usable as a Map key. */
export function keyId(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] as number);
  return s;
}

interface Entry {
  readonly id: string;
  readonly key: Uint8Array;
  value: Uint8Array;
  prev: Entry | undefined;
  next: Entry | undefined;
  /** Removed from the list; its `next` still leads on to entries that followed it. */
  gone: boolean;
}

/**
 * Hash maps (and their per-CPU and LRU forms): any key, insertion order for get-next-key (the
 * kernel's order is its buckets'; no order is promised, only that a walk from a key that is gone
 * restarts at the first key). LRU: when a new key finds the map full, the least recently written
 * key is evicted (one key, exactly; see `FakeMap` for what the kernel guarantees instead).
 */
export class HashStore implements Store {
  readonly #max: number;
  readonly #lru: boolean;
  readonly #byId = new Map<string, Entry>();
  /** Least recently written first (LRU maps only). */
  readonly #recency = new Map<string, Entry>();
  #head: Entry | undefined;
  #tail: Entry | undefined;

  constructor(maxEntries: number, lru: boolean) {
    this.#max = maxEntries;
    this.#lru = lru;
  }

  get size(): number {
    return this.#byId.size;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    return this.#byId.get(keyId(key))?.value.slice();
  }

  update(key: Uint8Array, value: Uint8Array, flags: number): ErrnoCode | undefined {
    const id = keyId(key);
    const old = this.#byId.get(id);
    if (old !== undefined && flags === NOEXIST) return 'EEXIST';
    if (old === undefined && flags === EXIST) return 'ENOENT';
    if (old !== undefined) {
      old.value = value.slice();
      this.#touch(old);
      return undefined;
    }
    if (this.#byId.size >= this.#max) {
      if (!this.#lru) return 'E2BIG';
      const victim = this.#recency.values().next().value as Entry;
      this.#remove(victim);
    }
    const e: Entry = { id, key: key.slice(), value: value.slice(), prev: this.#tail, next: undefined, gone: false };
    if (this.#tail) this.#tail.next = e;
    else this.#head = e;
    this.#tail = e;
    this.#byId.set(id, e);
    this.#touch(e);
    return undefined;
  }

  #touch(e: Entry): void {
    if (!this.#lru) return;
    this.#recency.delete(e.id);
    this.#recency.set(e.id, e);
  }

  #remove(e: Entry): void {
    this.#byId.delete(e.id);
    this.#recency.delete(e.id);
    if (e.prev) e.prev.next = e.next;
    else this.#head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.#tail = e.prev;
    e.gone = true; // `next` stays: a batch cursor parked here still finds the entries after it
  }

  delete(key: Uint8Array): boolean {
    const e = this.#byId.get(keyId(key));
    if (e === undefined) return false;
    this.#remove(e);
    return true;
  }

  lookupAndDelete(key: Uint8Array): Uint8Array | undefined {
    const e = this.#byId.get(keyId(key));
    if (e === undefined) return undefined;
    this.#remove(e);
    return e.value.slice();
  }

  nextKey(key: Uint8Array | null): Uint8Array | undefined {
    const e = key === null ? undefined : this.#byId.get(keyId(key));
    const next = e === undefined ? this.#head : e.next; // a key that is not there: the first key
    return next?.key.slice();
  }

  walkFrom(cursor: unknown): { key: Uint8Array; value: Uint8Array; cursor: unknown } | undefined {
    let e = cursor === null ? this.#head : (cursor as Entry).next;
    while (e?.gone) e = e.next;
    return e === undefined ? undefined : { key: e.key, value: e.value, cursor: e };
  }
}

/** Arrays: u32 indices below max_entries, every element present from the start (zeroed). */
export class ArrayStore implements Store {
  readonly #values: Uint8Array[];

  constructor(maxEntries: number, valueBufferSize: number) {
    this.#values = Array.from({ length: maxEntries }, () => new Uint8Array(valueBufferSize));
  }

  get size(): number {
    return this.#values.length;
  }

  #index(key: Uint8Array): number {
    return new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
  }

  #key(i: number): Uint8Array {
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, i, true);
    return k;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    return this.#values[this.#index(key)]?.slice();
  }

  update(key: Uint8Array, value: Uint8Array, flags: number): ErrnoCode | undefined {
    const slot = this.#values[this.#index(key)];
    if (slot === undefined) return 'E2BIG';
    if (flags === NOEXIST) return 'EEXIST';
    slot.set(value);
    return undefined;
  }

  delete(): ErrnoCode {
    return 'EINVAL';
  }

  lookupAndDelete(): undefined {
    return undefined; // refused by the type table before it gets here
  }

  nextKey(key: Uint8Array | null): Uint8Array | undefined {
    const i = key === null ? -1 : this.#index(key);
    if (i >= this.#values.length) return this.#key(0); // out of range: the first index
    return i + 1 < this.#values.length ? this.#key(i + 1) : undefined;
  }

  walkFrom(cursor: unknown): { key: Uint8Array; value: Uint8Array; cursor: unknown } | undefined {
    const i = cursor === null ? 0 : (cursor as number) + 1;
    const v = this.#values[i];
    return v === undefined ? undefined : { key: this.#key(i), value: v, cursor: i };
  }
}

/**
 * Queues (FIFO) and stacks (LIFO): a full one refuses a push with E2BIG unless BPF_EXIST, which
 * makes room by dropping the oldest element (the queue's head, the stack's bottom).
 */
export class QueueStore implements Store {
  readonly #max: number;
  readonly #lifo: boolean;
  readonly #items: Uint8Array[] = [];

  constructor(maxEntries: number, lifo: boolean) {
    this.#max = maxEntries;
    this.#lifo = lifo;
  }

  get size(): number {
    return this.#items.length;
  }

  lookup(): Uint8Array | undefined {
    return (this.#lifo ? this.#items.at(-1) : this.#items[0])?.slice();
  }

  update(_key: null, value: Uint8Array, flags: number): ErrnoCode | undefined {
    if (flags & NOEXIST || flags > EXIST) return 'EINVAL';
    if (this.#items.length >= this.#max) {
      if (flags !== EXIST) return 'E2BIG';
      this.#items.shift();
    }
    this.#items.push(value.slice());
    return undefined;
  }

  delete(): ErrnoCode {
    return 'EINVAL';
  }

  lookupAndDelete(): Uint8Array | undefined {
    return this.#lifo ? this.#items.pop() : this.#items.shift();
  }

  nextKey(): ErrnoCode {
    return 'EINVAL';
  }

  walkFrom(): undefined {
    return undefined;
  }
}

/**
 * Bloom filters: an exact set of the values pushed. A bloom filter may answer "possibly present"
 * for a value never pushed; this one never does (no false positives, and never a false negative).
 */
export class BloomStore implements Store {
  readonly #seen = new Set<string>();

  get size(): number {
    return this.#seen.size;
  }

  /** True when `value` was pushed. */
  has(value: Uint8Array): boolean {
    return this.#seen.has(keyId(value));
  }

  lookup(): undefined {
    return undefined;
  }

  update(_key: null, value: Uint8Array, flags: number): ErrnoCode | undefined {
    if (flags !== 0) return 'EINVAL';
    this.#seen.add(keyId(value));
    return undefined;
  }

  delete(): ErrnoCode {
    return 'EOPNOTSUPP';
  }

  lookupAndDelete(): undefined {
    return undefined;
  }

  nextKey(): ErrnoCode {
    return 'EOPNOTSUPP';
  }

  walkFrom(): undefined {
    return undefined;
  }
}

interface Prefix {
  readonly plen: number;
  readonly key: Uint8Array;
  value: Uint8Array;
}

function bit(key: Uint8Array, i: number): number {
  return ((key[4 + (i >> 3)] as number) >> (7 - (i & 7))) & 1;
}

/** True when the first `n` bits of the two keys' data agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, n: number): boolean {
  const bytes = n >> 3;
  for (let i = 0; i < bytes; i++) if (a[4 + i] !== b[4 + i]) return false;
  for (let i = bytes * 8; i < n; i++) if (bit(a, i) !== bit(b, i)) return false;
  return true;
}

/**
 * The trie's post-order as the kernel walks it: at the first bit (within both prefixes) where
 * two prefixes differ, the one with a 0 comes first; a prefix comes after every prefix it
 * contains (more specific first).
 */
function postOrder(a: Prefix, b: Prefix): number {
  const n = Math.min(a.plen, b.plen);
  for (let i = 0; i < n; i++) {
    const x = bit(a.key, i);
    const y = bit(b.key, i);
    if (x !== y) return x - y;
  }
  return b.plen - a.plen;
}

/**
 * LPM tries: keys are `u32 prefixlen` + data; update and delete match a prefix exactly (the bits
 * after the prefix length do not count, the key stored is the one last written), lookup returns
 * the longest stored prefix of the key; get-next-key walks post-order and restarts at the first
 * key from a key that is not stored. A prefix length beyond the data's bits is EINVAL on update
 * and delete, absent on lookup, a restart for get-next-key.
 */
export class LpmStore implements Store {
  readonly #max: number;
  readonly #maxPrefix: number;
  /** Sorted in post-order. */
  readonly #items: Prefix[] = [];

  constructor(maxEntries: number, keySize: number) {
    this.#max = maxEntries;
    this.#maxPrefix = (keySize - 4) * 8;
  }

  get size(): number {
    return this.#items.length;
  }

  #plen(key: Uint8Array): number {
    return new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
  }

  /** Where `p` is, or would go: { index, found }. */
  #find(p: Prefix): { index: number; found: boolean } {
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = postOrder(this.#items[mid] as Prefix, p);
      if (c === 0) return { index: mid, found: true };
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return { index: lo, found: false };
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    const plen = this.#plen(key);
    if (plen > this.#maxPrefix) return undefined;
    let best: Prefix | undefined;
    for (const p of this.#items)
      if (p.plen <= plen && (best === undefined || p.plen > best.plen) && samePrefix(p.key, key, p.plen)) best = p;
    return best?.value.slice();
  }

  update(key: Uint8Array, value: Uint8Array, flags: number): ErrnoCode | undefined {
    if (flags > EXIST) return 'EINVAL';
    const plen = this.#plen(key);
    if (plen > this.#maxPrefix) return 'EINVAL';
    const p: Prefix = { plen, key: key.slice(), value: value.slice() };
    const at = this.#find(p);
    if (at.found && flags === NOEXIST) return 'EEXIST';
    if (!at.found && flags === EXIST) return 'ENOENT';
    if (at.found) {
      this.#items[at.index] = p;
      return undefined;
    }
    if (this.#items.length >= this.#max) return 'ENOSPC';
    this.#items.splice(at.index, 0, p);
    return undefined;
  }

  delete(key: Uint8Array): boolean | ErrnoCode {
    const plen = this.#plen(key);
    if (plen > this.#maxPrefix) return 'EINVAL';
    const at = this.#find({ plen, key, value: key });
    if (!at.found) return false;
    this.#items.splice(at.index, 1);
    return true;
  }

  lookupAndDelete(): undefined {
    return undefined;
  }

  nextKey(key: Uint8Array | null): Uint8Array | undefined {
    if (this.#items.length === 0) return undefined;
    if (key !== null) {
      const plen = this.#plen(key);
      if (plen <= this.#maxPrefix) {
        const at = this.#find({ plen, key, value: key });
        if (at.found) return this.#items[at.index + 1]?.key.slice();
      }
    }
    return this.#items[0]?.key.slice();
  }

  walkFrom(cursor: unknown): { key: Uint8Array; value: Uint8Array; cursor: unknown } | undefined {
    // The kernel's generic batch walks with get-next-key from the last key it returned.
    const next = this.nextKey(cursor as Uint8Array | null);
    if (next === undefined) return undefined;
    const p = this.#items[this.#find({ plen: this.#plen(next), key: next, value: next }).index] as Prefix;
    return { key: p.key, value: p.value, cursor: p.key };
  }
}
