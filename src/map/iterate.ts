/**
 * Iteration: `BpfMap`'s keys(), entries() and chunks() (lookup batches where the map type has them,
 * see batch-walk.ts), and the key walk with get-next-key, safe against concurrent writers.
 *
 * The kernel's get-next-key restarts from the first key when the key it is
 * given has been deleted meanwhile (hash maps), so a naive walk can yield a
 * key twice or never end under churn. This walk remembers the keys it has
 * yielded (as latin1 strings, one per key) and skips them, and it gives up
 * after a bounded number of steps.
 *
 * Guarantees for one pass: no key is yielded twice; the pass ends. A key
 * present for the whole pass is yielded unless the step budget runs out
 * (then `IterationAbortedError` is thrown, never a silent truncation). A key
 * added or removed during the pass may or may not be yielded.
 */
import type { BatchChunk, BatchWalkOptions } from './batch-walk.js';
import { elementChunks, walkBatch, walkOptions } from './batch-walk.js';
import type { MapInternals } from './internals.js';
import { walkOnce } from './kernel-loop/walk.js';
import type { BpfMap, MapValue } from './map.js';
import { hasTrait } from './traits.js';

/** What a get-next-key walk needs of a map. */
export interface KeyWalkable {
  readonly maxEntries: number;
  getNextKey(key?: Uint8Array): Uint8Array | undefined;
}

/** A pass over a map ended early because concurrent writers kept restarting it. */
export class IterationAbortedError extends Error {
  readonly steps: number;
  constructor(steps: number) {
    super(
      `map iteration aborted after ${steps} get-next-key steps: concurrent deletes kept restarting the walk; retry, or use lookupBatch()`,
    );
    this.name = 'IterationAbortedError';
    this.steps = steps;
  }
}

/** Walks the keys of `map` with get-next-key. Several syscalls: one per key, plus restarts. */
export function* walkKeys(map: KeyWalkable): Generator<Uint8Array, void, undefined> {
  const seen = new Set<string>();
  const budget = Math.max(4 * map.maxEntries, 1024) + 64;
  let key: Uint8Array | undefined;
  for (let steps = 0; ; steps++) {
    if (steps > budget) throw new IterationAbortedError(steps);
    const next = map.getNextKey(key);
    if (next === undefined) return;
    const id = Buffer.from(next.buffer, next.byteOffset, next.length).toString('latin1');
    key = next;
    if (seen.has(id)) continue;
    seen.add(id);
    yield next;
  }
}

/** `BpfMap.keys()`: lookup batches where the map type has them, else the get-next-key walk. */
export function mapKeys(map: BpfMap, s: MapInternals): IterableIterator<Uint8Array> {
  s.live('BPF_MAP_GET_NEXT_KEY');
  if (!hasTrait(map.type, 'batchWalk')) return walkKeys(map);
  return batchKeys(map, s);
}

/**
 * The whole map in chunks: one kernel entry for the whole map where the map allows (kernel-loop/walk.ts),
 * else lookup batches. Options read once.
 */
function* walkChunks(map: BpfMap, s: MapInternals, opts: BatchWalkOptions | undefined): Generator<BatchChunk, void, undefined> {
  const fd = s.live('BPF_MAP_LOOKUP_BATCH');
  const { size, flags } = walkOptions(opts);
  const reuse = opts?.reuse === true;
  const loop = flags === 0 ? s.loops().walkLoop(map, fd) : undefined;
  const chunks = loop === undefined ? undefined : walkOnce(map, loop, size);
  if (chunks !== undefined) yield* chunks;
  else yield* walkBatch(map, s, false, { batchSize: size, flags, reuse });
}

function* batchKeys(map: BpfMap, s: MapInternals): Generator<Uint8Array, void, undefined> {
  const ks = map.keySize;
  for (const c of walkChunks(map, s, undefined)) {
    for (let i = 0; i < c.count; i++) yield c.keys.subarray(i * ks, (i + 1) * ks);
  }
}

/** `BpfMap.entries()`: pairs from lookup batches, or the walk plus one lookup per key (keys deleted meanwhile skipped). */
export function mapEntries(map: BpfMap, s: MapInternals): IterableIterator<[Uint8Array, MapValue]> {
  if (!hasTrait(map.type, 'batchWalk')) return walkEntries(map, s);
  return new ChunkEntries(map, s);
}

function* walkEntries(map: BpfMap, s: MapInternals): Generator<[Uint8Array, MapValue], void, undefined> {
  s.live('BPF_MAP_LOOKUP_ELEM');
  for (const key of walkKeys(map)) {
    const value = map.lookup(key);
    if (value !== undefined) yield [key, value];
  }
}

/**
 * The batch walk's chunks as `[key, value]` pairs, each a fresh pair of views into its chunk's
 * buffers. A hand-written iterator rather than a generator: per entry it allocates only what it
 * returns (the result, the pair, two views), with no generator resume and no `subarray` species
 * look-up. Like a generator, it checks the map on the first `next()`.
 */
class ChunkEntries implements IterableIterator<[Uint8Array, MapValue]> {
  readonly #map: BpfMap;
  readonly #s: MapInternals;
  readonly #ks: number;
  readonly #vs: number;
  readonly #perCpu: boolean;
  #chunks: Iterator<BatchChunk, void, undefined> | undefined;
  #keys: ArrayBufferLike | undefined;
  #values: ArrayBufferLike | undefined;
  #keyAt = 0;
  #valueAt = 0;
  #left = 0;
  #done = false;

  constructor(map: BpfMap, s: MapInternals) {
    this.#map = map;
    this.#s = s;
    this.#ks = map.keySize;
    this.#vs = map.valueBufferSize;
    this.#perCpu = map.isPerCpu;
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<[Uint8Array, MapValue], undefined> {
    if (this.#left === 0 && !this.#refill()) return { value: undefined, done: true };
    this.#left--;
    const ks = this.#ks;
    const vs = this.#vs;
    const key = new Uint8Array(this.#keys as ArrayBuffer, this.#keyAt, ks);
    const bytes = new Uint8Array(this.#values as ArrayBuffer, this.#valueAt, vs);
    this.#keyAt += ks;
    this.#valueAt += vs;
    return { value: [key, this.#perCpu ? this.#s.result(bytes) : bytes], done: false };
  }

  /** Moves to the next non-empty chunk (the first call checks the map and starts the walk); false at the end. */
  #refill(): boolean {
    while (this.#left === 0) {
      if (this.#done) return false;
      if (this.#chunks === undefined) {
        this.#s.live('BPF_MAP_LOOKUP_ELEM');
        this.#chunks = walkChunks(this.#map, this.#s, undefined);
      }
      let r: IteratorResult<BatchChunk, void>;
      try {
        r = this.#chunks.next();
      } catch (err) {
        this.#done = true;
        throw err;
      }
      if (r.done === true) {
        this.#done = true;
        return false;
      }
      const c = r.value;
      this.#keys = c.keys.buffer;
      this.#values = c.values.buffer;
      this.#keyAt = c.keys.byteOffset;
      this.#valueAt = c.values.byteOffset;
      this.#left = c.count;
    }
    return true;
  }

  /** Ends the pass early (`break` out of `for…of`): the walk stops; later `next()` calls are done. */
  return(): IteratorResult<[Uint8Array, MapValue], undefined> {
    this.#done = true;
    this.#left = 0;
    this.#chunks?.return?.();
    return { value: undefined, done: true };
  }
}

/** `BpfMap.chunks()`: lookup batches, or chunks gathered from the walk. */
export function* mapChunks(
  map: BpfMap,
  s: MapInternals,
  opts: BatchWalkOptions | undefined,
): Generator<BatchChunk, void, undefined> {
  s.live('BPF_MAP_LOOKUP_ELEM');
  if (hasTrait(map.type, 'batchWalk')) yield* walkChunks(map, s, opts);
  else {
    const { size, flags } = walkOptions(opts);
    yield* elementChunks(map, false, size, flags);
  }
}
