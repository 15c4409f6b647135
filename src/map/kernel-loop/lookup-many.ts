/**
 * `BpfMap.lookupMany`: many keys looked up per kernel entry. Keys are written into an mmapped
 * scratch (scratch.ts), a per-map syscall program (program.ts) looks each up with `bpf_loop`, and
 * values and found flags are read back from the scratch: one BPF_PROG_TEST_RUN per chunk of keys.
 * Where that cannot work (map types a sleepable program may not use, a kernel or privilege that
 * refuses the program, a write-only fd, few keys) the element path gives the same results, one
 * BPF_MAP_LOOKUP_ELEM per key; why the program is not used is said once per map in the debug log
 * (`NODE_DEBUG=bpfmap`). `BPFMAP_KERNEL_LOOP=0` in the environment forces the element path (tests).
 *
 * Two differences from syscall lookups that bytes cannot show: on LRU maps a program's lookup marks
 * the element as used (a syscall lookup does not), as a program of the user's would; on per-CPU
 * maps the padding after each CPU's valueSize bytes reads as zeros (the verifier lets a program
 * read valueSize bytes only), where a syscall lookup copies whatever padding the last update wrote.
 *
 * The same file keeps the map's other kernel loops (`KernelLoops`): the write loop behind
 * `updateBatch`/`deleteBatch` (`writeMany`) and the array walk (walk.ts).
 */
import { debuglog } from 'node:util';
import { BpfError, errnoNumber } from '../../errors.js';
import { progRunBare } from '../../sys/bpf.js';
import { possibleCpuList } from '../../sys/cpu.js';
import { O_RDONLY, O_WRONLY, accessModeOf, fdAccessMode, fdInfoFields } from '../../sys/fd.js';
import { MapType } from '../../sys/uapi.js';
import { bytesLength, checkBytes } from '../../validate.js';
import type { MapInternals } from '../internals.js';
import type { BpfMap } from '../map.js';
import { mapError } from '../hints.js';
import { LoadedLoop, MAX_INSN_OFF, loadLoop, lookupProgram, writeProgram } from './program.js';
import { KEYS, createScratch, releaseScratch, scratchLayout } from './scratch.js';
import { loadWalk, walkOff } from './walk.js';

const debug = debuglog('bpfmap');

/** What `lookupMany` takes besides the keys. */
export interface LookupManyOptions {
  /** Filled with the n values (n × valueBufferSize bytes) instead of a new buffer. */
  values?: Uint8Array;
  /** Filled with the n found flags (n bytes) instead of a new buffer. */
  found?: Uint8Array;
}

/** What `lookupMany` returns: `found[i]` is 1 where key i was present (its value at slot i), else 0 (slot i zeroed). */
export interface LookupManyResult {
  count: number;
  found: Uint8Array;
  values: Uint8Array;
}

/** Map types whose lookups a sleepable program may make. */
const LOOP_TYPES = new Set<number>([
  MapType.Hash,
  MapType.Array,
  MapType.PercpuHash,
  MapType.PercpuArray,
  MapType.LruHash,
  MapType.LruPercpuHash,
]);

/**
 * Fewer keys than this take the element path. Measured on Linux 6.18 (hash, 4-byte keys, warm):
 * one program run costs about one element lookup (~0.9 µs) plus ~15-40 ns per key, so the loop
 * wins from 2 keys on (2 keys: 0.28 vs 0.40 µs/key; 8: 0.07 vs 0.39); one key stays on the element
 * path, which also spares a one-off single lookup the program's load.
 */
export const MIN_KERNEL_KEYS = 2;

/** The scratch holds at most this many bytes of records (keys, values, found flags). */
const MAX_SCRATCH = 4 << 20;
/** Records the first scratch holds at least (it grows, by powers of two, to what calls need). */
const MIN_CAP = 1024;

const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (key: string): ((this: unknown, ...args: unknown[]) => unknown) =>
  (Object.getOwnPropertyDescriptor(TYPED_ARRAY, key)?.get ?? (TYPED_ARRAY as Record<string, unknown>)[key]) as (
    this: unknown,
    ...args: unknown[]
  ) => unknown;
// Intrinsics, captured at load, so that no user code (an own `buffer` property, a patched `set`)
// runs between the checks and the copies.
const bufferOf = intrinsic('buffer') as (this: Uint8Array) => ArrayBufferLike;
const offsetOf = intrinsic('byteOffset') as (this: Uint8Array) => number;
const setOf = intrinsic('set') as (this: Uint8Array, src: Uint8Array, offset: number) => void;
const fillOf = intrinsic('fill') as (this: Uint8Array, v: number, start: number, end: number) => void;

/**
 * Fewer elements than this keep the kernel's update/delete batch: a loop run and a batch syscall
 * cost about the same fixed part, and the loop's lead (~100 vs ~200 ns/element on a hash, bench/
 * kernel-loop-updates.mjs) only shows over many elements.
 */
export const MIN_WRITE_KEYS = 16;

/** Map types whose updates (and deletes) the write loop makes as the batch commands would (not per-CPU: a program's update writes one CPU's value). */
const UPDATE_TYPES = new Set<number>([MapType.Hash, MapType.LruHash, MapType.Array]);
const DELETE_TYPES = new Set<number>([MapType.Hash, MapType.LruHash]);

/** A map's kernel loops: made on first use, released by `BpfMap.close()` (or with the map, when it is collected). */
export class KernelLoops {
  #lookup: LoadedLoop | undefined;
  /** Why the lookup program is not used (said once in the debug log), or undefined. */
  #lookupOff: string | undefined;
  /** The element path's key and value buffers and the options handed to `lookup`. */
  #key: Uint8Array | undefined;
  #opts: { out: Uint8Array } | undefined;
  /** The whole-map walk (walk.ts), false once refused. */
  #walk: LoadedLoop | false | undefined;
  /** The update and delete loops ([0] update, [1] delete), or why not. */
  readonly #write: [LoadedLoop | string | undefined, LoadedLoop | string | undefined] = [undefined, undefined];

  /**
   * `updateBatch` (flags 0) / `deleteBatch` by the write loop: how many elements were applied, or
   * undefined when nothing was done and the kernel's batch should run instead.
   * @throws {BpfError} as the batch command would: the errno of the first element that failed, `count` applied before it.
   */
  writeMany(map: BpfMap, fd: number, del: boolean, keys: Uint8Array, values: Uint8Array | null, n: number): number | undefined {
    if (n < MIN_WRITE_KEYS) return undefined;
    // Checked on every call: a program writes a frozen map, and the fd's mode does not bind it.
    if (!writableNow(fd)) return undefined;
    const loop = this.#writeLoop(map, fd, del, n);
    if (loop === undefined) return undefined;
    const command = del ? 'BPF_MAP_DELETE_BATCH' : 'BPF_MAP_UPDATE_BATCH';
    const { cap, values: vOff } = loop.scratch.layout;
    const { bytes, header } = loop.scratch;
    const ks = map.keySize;
    const vs = map.valueBufferSize;
    const kBuf = bufferOf.call(keys);
    const kOff = offsetOf.call(keys);
    for (let at = 0; at < n; at += cap) {
      const m = Math.min(cap, n - at);
      header[0] = m;
      setOf.call(bytes, new Uint8Array(kBuf, kOff + at * ks, m * ks), KEYS);
      if (values !== null)
        setOf.call(bytes, new Uint8Array(bufferOf.call(values), offsetOf.call(values) + at * vs, m * vs), vOff);
      const r = progRunBare(loop.progFd);
      if (r < 0) {
        // The program did not run: nothing of this chunk was applied.
        if (at === 0) return undefined;
        throw mapError(command, -r, map, 0, at);
      }
      if (header[2] !== 0) throw mapError(command, header[2] as number, map, 0, at + (header[1] as number));
    }
    return n;
  }

  #writeLoop(map: BpfMap, fd: number, del: boolean, n: number): LoadedLoop | undefined {
    const i = del ? 1 : 0;
    const have = this.#write[i];
    if (typeof have === 'string') return undefined;
    if (have !== undefined && roomFor(have, map, n)) return have;
    const what = del ? 'deleteBatch' : 'updateBatch';
    const off = (why: string): undefined => {
      this.#write[i] = why;
      debug('%s on map %s (%s) uses the kernel batch command, not the kernel loop: %s', what, map.id, map.name, why);
      return undefined;
    };
    if (have === undefined) {
      if (process.env.BPFMAP_KERNEL_LOOP === '0') return off('BPFMAP_KERNEL_LOOP=0');
      if (!(del ? DELETE_TYPES : UPDATE_TYPES).has(map.type)) return off('not for this map type');
      if (map.valueBufferSize > MAX_INSN_OFF || map.keySize > MAX_INSN_OFF) return off('elements too large for the loop');
      // Values with BTF may hold spin locks, timers or kptrs, which syscall updates treat specially.
      if (map.info().btfValueTypeId !== 0) return off('the value has BTF');
    }
    const scratch = createScratch(scratchLayout(capFor(map, n), map.keySize, map.valueBufferSize));
    if (typeof scratch === 'string') return off(scratch);
    const prog = loadLoop(writeProgram(fd, scratch.fd, scratch.layout, del), debug.enabled);
    if (typeof prog === 'string') {
      releaseScratch(scratch);
      return off(prog);
    }
    have?.release();
    const loop = new LoadedLoop(scratch, prog);
    this.#write[i] = loop;
    return loop;
  }

  /** The loaded walk of this map, or undefined: walk with lookup batches. */
  walkLoop(map: BpfMap, fd: number): LoadedLoop | undefined {
    if (this.#walk === undefined) {
      const w = loadWalk(map, fd);
      if (typeof w === 'string') {
        walkOff(map, w);
        this.#walk = false;
      } else this.#walk = w;
    }
    return this.#walk === false ? undefined : this.#walk;
  }

  /** The loaded lookup loop with room for `n` keys per run (growing it), or undefined: use the element path. */
  lookupLoop(map: BpfMap, fd: number, n: number): LoadedLoop | undefined {
    const have = this.#lookup;
    if (have !== undefined && roomFor(have, map, n)) return have;
    if (this.#lookupOff !== undefined) return undefined;
    const why = lookupRefusal(map, fd);
    if (why !== undefined) return this.#off(map, why);
    const scratch = createScratch(scratchLayout(capFor(map, n), map.keySize, map.valueBufferSize));
    if (typeof scratch === 'string') return this.#off(map, scratch);
    const cpus = map.isPerCpu ? possibleCpuList().length : 0;
    const asm = lookupProgram(fd, scratch.fd, scratch.layout, { size: map.valueSize, cpus });
    const prog = loadLoop(asm, debug.enabled);
    if (typeof prog === 'string') {
      releaseScratch(scratch);
      return this.#off(map, prog);
    }
    have?.release();
    this.#lookup = new LoadedLoop(scratch, prog);
    return this.#lookup;
  }

  #off(map: BpfMap, why: string): undefined {
    this.#lookupOff = why;
    debug('lookupMany on map %s (%s): one lookup per key, the kernel loop is not used: %s', map.id, map.name, why);
    return undefined;
  }

  /** Reports a failed run (the loop is dropped: later calls use the element path). */
  runFailed(map: BpfMap, errno: number): void {
    this.#lookup?.release();
    this.#lookup = undefined;
    this.#off(map, `BPF_PROG_TEST_RUN failed (errno ${errno})`);
  }

  elementBuffers(map: BpfMap): { key: Uint8Array; opts: { out: Uint8Array } } {
    this.#key ??= new Uint8Array(map.keySize);
    this.#opts ??= { out: new Uint8Array(map.valueBufferSize) };
    return { key: this.#key, opts: this.#opts };
  }

  /** Releases the program and the scratch now. */
  release(): void {
    this.#lookup?.release();
    this.#lookup = undefined;
    this.#lookupOff = 'the map is closed';
    if (this.#walk) this.#walk.release();
    this.#walk = false;
    for (const i of [0, 1] as const) {
      const w = this.#write[i];
      if (typeof w === 'object') w.release();
      this.#write[i] = 'the map is closed';
    }
  }
}

/** The fd may write the map through syscalls now: not frozen, not opened read-only (one read of its fdinfo). */
function writableNow(fd: number): boolean {
  const f = fdInfoFields(fd, ['flags', 'frozen']);
  const mode = accessModeOf(f?.[0]);
  return f?.[1] === '0' && mode !== undefined && mode !== O_RDONLY;
}

/** Records a new scratch for `n` keys holds: n rounded up to a power of two, at least MIN_CAP, at most `maxCap`. */
function capFor(map: BpfMap, n: number): number {
  return Math.min(maxCap(map), Math.max(MIN_CAP, 2 ** Math.ceil(Math.log2(n))));
}

/** Whether `loop`'s scratch serves `n` keys: it holds them, or it is as large as scratches get (calls then chunk). */
function roomFor(loop: LoadedLoop, map: BpfMap, n: number): boolean {
  return loop.scratch.layout.cap >= n || loop.scratch.layout.cap === maxCap(map);
}

/** Records of this map that fit the largest scratch. */
function maxCap(map: BpfMap): number {
  return Math.max(1, Math.floor((MAX_SCRATCH - KEYS) / (map.keySize + map.valueBufferSize + 1)));
}

/** Why this map's lookups cannot run in a kernel loop, or undefined when they can. */
function lookupRefusal(map: BpfMap, fd: number): string | undefined {
  if (process.env.BPFMAP_KERNEL_LOOP === '0') return 'BPFMAP_KERNEL_LOOP=0';
  if (!LOOP_TYPES.has(map.type)) return 'a sleepable program cannot use this map type';
  // Programs reach a map whatever its fd's mode: a write-only fd must keep refusing lookups (EPERM).
  const mode = fdAccessMode(fd);
  if (mode === undefined || mode === O_WRONLY) return 'the fd is not readable';
  if (map.valueBufferSize > MAX_INSN_OFF || map.keySize > MAX_INSN_OFF) return 'values too large for the loop';
  if (map.isPerCpu) {
    const cpus = possibleCpuList();
    if (cpus.some((c, i) => c !== i)) return 'the possible CPUs are not numbered 0…n-1';
    if (cpus.length * (map.valueSize / 4 + 8) > 200_000) return 'per-CPU values too large for the loop';
  }
  return undefined;
}

/** `BpfMap.lookupMany`. */
export function lookupMany(
  map: BpfMap,
  s: MapInternals,
  loops: KernelLoops,
  keys: unknown,
  opts: LookupManyOptions | undefined,
): LookupManyResult {
  // Options read once, first; then every check; then no user code until the copies are done.
  const rawValues = opts?.values;
  const rawFound = opts?.found;
  const fd = s.live('BPF_MAP_LOOKUP_ELEM');
  const ks = map.keySize;
  const vs = map.valueBufferSize;
  if (ks === 0) throw new TypeError(`lookupMany() looks up keys; this ${s.typeName()} map has none`);
  const kBytes = bytesLength(keys);
  if (kBytes <= 0 || kBytes % ks !== 0) {
    checkBytes('keys', keys, ks, `n × key_size (${ks})`, true); // not bytes, detached, too short
    throw new RangeError(`keys must be a non-empty multiple of the key size (${ks} bytes), got ${kBytes}`);
  }
  const k = keys as Uint8Array;
  const n = kBytes / ks;
  const values =
    rawValues === undefined
      ? new Uint8Array(n * vs)
      : checkBytes('values', rawValues, n * vs, `n × ${map.isPerCpu ? 'roundUp(valueSize, 8) × possibleCpus()' : 'value_size'}`);
  const found = rawFound === undefined ? new Uint8Array(n) : checkBytes('found', rawFound, n, 'one byte per key');
  // Keys sharing a buffer with the outputs are copied first: results must not change later keys.
  const kBuf = bufferOf.call(k);
  let kSrc = k;
  if (bufferOf.call(values) === kBuf || bufferOf.call(found) === kBuf) {
    kSrc = new Uint8Array(kBytes);
    setOf.call(kSrc, k, 0);
  }
  const loop = n < MIN_KERNEL_KEYS ? undefined : loops.lookupLoop(map, fd, n);
  if (loop === undefined) return { count: elementLookups(map, loops, kSrc, 0, n, values, found), found, values };
  const { cap, values: vOff, found: fOff } = loop.scratch.layout;
  const src = bufferOf.call(kSrc);
  const kOff = offsetOf.call(kSrc);
  const { bytes, header } = loop.scratch;
  const sBuf = bytes.buffer;
  let count = 0;
  for (let at = 0; at < n; at += cap) {
    const m = Math.min(cap, n - at);
    header[0] = m;
    setOf.call(bytes, new Uint8Array(src, kOff + at * ks, m * ks), KEYS);
    const r = progRunBare(loop.progFd);
    if (r !== 0) {
      // Never wrong: what the loop did not do is done element by element.
      loops.runFailed(map, r < 0 ? -r : errnoNumber('EIO'));
      return { count: count + elementLookups(map, loops, kSrc, at, n, values, found), found, values };
    }
    count += header[1] as number;
    setOf.call(values, new Uint8Array(sBuf, vOff, m * vs), at * vs);
    setOf.call(found, new Uint8Array(sBuf, fOff, m), at);
  }
  return { count, found, values };
}

/** Keys [from, n) looked up one by one, as `lookup` does; absent keys' slots zeroed. How many were found. */
function elementLookups(
  map: BpfMap,
  loops: KernelLoops,
  keys: Uint8Array,
  from: number,
  n: number,
  values: Uint8Array,
  found: Uint8Array,
): number {
  const ks = map.keySize;
  const vs = map.valueBufferSize;
  const { key, opts } = loops.elementBuffers(map);
  const out = opts.out;
  let count = 0;
  for (let i = from; i < n; i++) {
    for (let j = 0; j < ks; j++) key[j] = keys[i * ks + j] as number;
    let hit: boolean;
    try {
      hit = map.lookup(key, opts) !== undefined;
    } catch (err) {
      if (err instanceof BpfError)
        throw new BpfError('BPF_MAP_LOOKUP_ELEM', err.errno, { count: i, cause: err, hint: err.message });
      throw err;
    }
    if (hit) {
      setOf.call(values, out, i * vs);
      count++;
    } else fillOf.call(values, 0, i * vs, (i + 1) * vs);
    found[i] = hit ? 1 : 0;
  }
  return count;
}
