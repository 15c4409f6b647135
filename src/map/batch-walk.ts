/**
 * `BpfMap`'s batch engine: whole-map walks with BPF_MAP_LOOKUP(_AND_DELETE)_BATCH (chunks carved from
 * slabs, two alternating cursors, the batch grown on ENOSPC), batch updates and deletes, and their
 * fallbacks to element commands where the map type or kernel has no batches. The one-syscall
 * batch wrappers are in batch.ts; `BpfMap`'s public methods delegate here.
 */
import { BpfError, errnoNumber } from '../errors.js';
import { BPF_F_LOCK } from '../sys/uapi.js';
import { arrayElements, bytesLength, checkBytes, checkFlags, checkInt, describeValue } from '../validate.js';
import { cursorSize, deleteBatchOn, lookupBatchOn, updateBatchOn } from './batch.js';
import type { MapInternals } from './internals.js';
import { walkKeys } from './iterate.js';
import type { BpfMap, UpdateOptions } from './map.js';

const ENOENT = errnoNumber('ENOENT');

/** The errors that say "no batch commands here": the walk falls back to element commands. */
const NO_BATCH = new Set(['ENOTSUPP', 'EOPNOTSUPP']);

/** Chunks of a batch walk carved from one allocation. */
const SLAB_CHUNKS = 16;

/** Elements per lookup batch when walking a map (grown on ENOSPC). */
export const BATCH_WALK_SIZE = 256;

/** One chunk of a batch walk: `count` elements as flat keys and values (per-CPU values in the kernel's layout). */
export interface BatchChunk {
  count: number;
  keys: Uint8Array;
  values: Uint8Array;
}

/** Options of `lookupBatch`/`lookupAndDeleteBatch` walks. */
export interface BatchWalkOptions {
  /** Elements per syscall (default 256); grown automatically when a hash bucket is larger (ENOSPC). */
  batchSize?: number;
  /** `BPF_F_LOCK`: copy each value under its bpf_spin_lock (values with a spin lock and BTF). */
  flags?: number;
  /**
   * Reuse one pair of buffers for every chunk: nothing is allocated per syscall, but a chunk's bytes
   * are overwritten by the next step (copy what you keep). Default false: each chunk is yours.
   */
  reuse?: boolean;
}

/** The walk's options read once: the batch size and the per-element flags, checked. */
export function walkOptions(opts: BatchWalkOptions | undefined): { size: number; flags: number } {
  const size = checkInt('batchSize', opts?.batchSize ?? BATCH_WALK_SIZE, 1, 1 << 20);
  const rawFlags = opts?.flags;
  return { size, flags: rawFlags === undefined ? 0 : checkFlags('flags', rawFlags) };
}

/** The whole map in chunks, one lookup batch each (`del`: lookup-and-delete batches); falls back to `elementChunks`. */
export function* walkBatch(
  map: BpfMap,
  s: MapInternals,
  del: boolean,
  opts: BatchWalkOptions | undefined,
): Generator<BatchChunk, void, undefined> {
  s.live(del ? 'BPF_MAP_LOOKUP_AND_DELETE_BATCH' : 'BPF_MAP_LOOKUP_BATCH');
  const { keySize, valueBufferSize } = map;
  let { size, flags: elemFlags } = walkOptions(opts);
  const reuse = opts?.reuse === true;
  // Two cursors, alternating: the previous call's out-cursor is the next call's in-cursor.
  const cursors = [new Uint8Array(cursorSize(map)), new Uint8Array(cursorSize(map))] as const;
  let inBatch: Uint8Array | null = null;
  let turn = 0;
  // Chunks are carved from slabs of SLAB_CHUNKS chunks: one allocation per slab rather than two per
  // syscall. A chunk kept by the caller keeps its slab (at most SLAB_CHUNKS chunks' bytes) alive.
  let slab: Uint8Array | undefined;
  let slabUsed = 0;
  const take = (n: number): Uint8Array => {
    if (slab === undefined || slabUsed + n > slab.length) {
      slab = new Uint8Array(Math.max(n, SLAB_CHUNKS * size * (keySize + valueBufferSize)));
      slabUsed = 0;
    }
    const out = slab.subarray(slabUsed, slabUsed + n);
    slabUsed += n;
    return out;
  };
  // With `reuse`, one pair of buffers serves every step (grown when the batch grows).
  let fixedKeys: Uint8Array | undefined;
  let fixedValues: Uint8Array | undefined;
  const fixed = (buf: Uint8Array | undefined, n: number): Uint8Array =>
    buf !== undefined && buf.length >= n ? buf.subarray(0, n) : new Uint8Array(n);
  for (let first = true; ; first = false) {
    let keys: Uint8Array;
    let values: Uint8Array;
    if (reuse) {
      keys = fixedKeys = fixed(fixedKeys, size * keySize);
      values = fixedValues = fixed(fixedValues, size * valueBufferSize);
    } else {
      keys = take(size * keySize);
      values = take(size * valueBufferSize);
    }
    let r: { count: number; done: boolean };
    try {
      r = lookupBatchOn(map, del, inBatch, turn & 1 ? cursors[1] : cursors[0], keys, values, size, { elemFlags });
    } catch (err) {
      if (BpfError.is(err, 'ENOSPC') && size < 1 << 20) {
        size *= 2; // one hash bucket holds more than `size` elements
        continue;
      }
      if (first && BpfError.is(err) && NO_BATCH.has(err.code)) {
        yield* elementChunks(map, del, size, elemFlags);
        return;
      }
      throw err;
    }
    if (r.count > 0)
      yield {
        count: r.count,
        keys: keys.subarray(0, r.count * keySize),
        values: values.subarray(0, r.count * valueBufferSize),
      };
    if (r.done) return;
    inBatch = turn & 1 ? cursors[1] : cursors[0];
    turn++;
  }
}

/** The fallback walk: get-next-key plus one lookup (or lookup-and-delete) per key, in chunks of `size`. */
export function* elementChunks(map: BpfMap, del: boolean, size: number, flags = 0): Generator<BatchChunk, void, undefined> {
  const { keySize, valueBufferSize } = map;
  let keys = new Uint8Array(size * keySize);
  let values = new Uint8Array(size * valueBufferSize);
  let n = 0;
  const keyList = del ? [...walkKeys(map)] : walkKeys(map);
  for (const key of keyList) {
    const out = values.subarray(n * valueBufferSize, (n + 1) * valueBufferSize);
    const o = flags ? { out, flags } : { out };
    const v = del ? map.lookupAndDelete(key, o) : map.lookup(key, o);
    if (v === undefined) continue;
    keys.set(key, n * keySize);
    if (++n === size) {
      yield { count: n, keys, values };
      keys = new Uint8Array(size * keySize);
      values = new Uint8Array(size * valueBufferSize);
      n = 0;
    }
  }
  if (n > 0) yield { count: n, keys: keys.subarray(0, n * keySize), values: values.subarray(0, n * valueBufferSize) };
}

/** Flat bytes of `count` elements of `width`, from a flat buffer or an array of per-element buffers. */
function flat(
  what: string,
  input: unknown,
  width: number,
  element: (v: unknown, i: number) => Uint8Array,
): { bytes: Uint8Array; count: number } {
  const n = bytesLength(input);
  if (n >= 0) {
    if (width === 0 || n % width !== 0 || n === 0) {
      checkBytes(what, input, width, 'a non-empty multiple of the element size', true); // detached: TypeError
      throw new RangeError(`${what} must be a non-empty multiple of ${width} bytes, got ${n}`);
    }
    return { bytes: input as Uint8Array, count: n / width };
  }
  if (!Array.isArray(input))
    throw new TypeError(`${what} must be a flat Uint8Array or a non-empty array of buffers, got ${describeValue(input)}`);
  // Each element read once; a hole is a TypeError naming its index, never an all-zero element.
  const list = arrayElements(what, input);
  if (list.length === 0)
    throw new TypeError(`${what} must be a flat Uint8Array or a non-empty array of buffers, got an empty array`);
  const bytes = new Uint8Array(list.length * width);
  for (let i = 0; i < list.length; i++) bytes.set(element(list[i], i), i * width);
  return { bytes, count: list.length };
}

/** The keys of a batch as flat bytes, each element checked to be key_size bytes. */
function flatKeys(map: BpfMap, keys: unknown): { bytes: Uint8Array; count: number } {
  const ks = map.keySize;
  return flat('keys', keys, ks, (v, i) => checkBytes(`keys[${i}]`, v, ks, "the map's key_size"));
}

/** `BpfMap.updateBatch`: one batch update, or element updates where batches are unsupported or flags need them. */
export function updateBatch(
  map: BpfMap,
  s: MapInternals,
  keys: unknown,
  values: unknown,
  opts: UpdateOptions | undefined,
): number {
  const rawFlags = opts?.flags; // read once
  const fd = s.live('BPF_MAP_UPDATE_BATCH');
  const flags = rawFlags === undefined ? 0 : checkFlags('flags', rawFlags);
  const { keySize, valueBufferSize } = map;
  const k = flatKeys(map, keys);
  const v = flat('values', values, valueBufferSize, (x, i) => {
    try {
      return s.value(x);
    } catch (err) {
      throw err instanceof Error ? Object.assign(err, { message: `values[${i}]: ${err.message}` }) : err;
    }
  });
  if (k.count !== v.count) throw new RangeError(`keys hold ${k.count} elements but values hold ${v.count}`);
  // The kernel's batch update takes only BPF_F_LOCK per element; NOEXIST/EXIST go element by element.
  if ((flags & ~BPF_F_LOCK) === 0) {
    // Many elements: one kernel entry per chunk through the map's write loop (kernel-loop/), where it applies.
    const done = flags === 0 ? s.loops().writeMany(map, fd, false, k.bytes, v.bytes, k.count) : undefined;
    if (done !== undefined) return done;
    try {
      return updateBatchOn(map, k.bytes, v.bytes, k.count, { elemFlags: flags });
    } catch (err) {
      if (!(BpfError.is(err) && NO_BATCH.has(err.code))) throw err;
    }
  }
  for (let i = 0; i < k.count; i++) {
    try {
      map.update(
        k.bytes.subarray(i * keySize, (i + 1) * keySize),
        v.bytes.subarray(i * valueBufferSize, (i + 1) * valueBufferSize),
        { flags },
      );
    } catch (err) {
      if (BpfError.is(err)) throw new BpfError('BPF_MAP_UPDATE_BATCH', err.errno, { count: i, cause: err, hint: err.message });
      throw err;
    }
  }
  return k.count;
}

/** `BpfMap.deleteBatch`: one batch delete, or element deletes where batches are unsupported. */
export function deleteBatch(map: BpfMap, s: MapInternals, keys: unknown): number {
  const fd = s.live('BPF_MAP_DELETE_BATCH');
  const ks = map.keySize;
  const k = flatKeys(map, keys);
  const done = s.loops().writeMany(map, fd, true, k.bytes, null, k.count);
  if (done !== undefined) return done;
  try {
    return deleteBatchOn(map, k.bytes, k.count);
  } catch (err) {
    if (!(BpfError.is(err) && NO_BATCH.has(err.code))) throw err;
  }
  for (let i = 0; i < k.count; i++) {
    if (!map.delete(k.bytes.subarray(i * ks, (i + 1) * ks)))
      throw new BpfError('BPF_MAP_DELETE_BATCH', ENOENT, { count: i, hint: `keys[${i}] is not in the map` });
  }
  return k.count;
}
