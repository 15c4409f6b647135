/**
 * Whole-map walks in one kernel entry: a per-map syscall program runs `bpf_for_each_map_elem` over
 * the map and appends every key and value to an mmapped scratch big enough for `max_entries`
 * records (program.ts `walkProgram`), so one BPF_PROG_TEST_RUN reads the whole map. Used by
 * `chunks()`, `entries()` and `keys()` (iterate.ts) on array maps when the scratch fits
 * (`MAX_WALK_SCRATCH`); elsewhere, or when the kernel refuses the program, the lookup-batch walk runs.
 * One pass yields each index once, in order, and ends (for-each walks the indexes 0…max_entries-1).
 *
 * Arrays only, as measured on Linux 6.18 (200,000 entries, 4-byte keys, 8-byte values): an array
 * walks in ~20-35 ns/element this way against ~115-130 with lookup batches. On a hash the kernel's
 * for-each alone, with an empty callback, costs ~170-230 ns/element (it visits every bucket of a
 * power-of-two table under RCU), no faster than lookup batches (~220 ns/element from JavaScript),
 * and its bucket chains are walked without bucket locks, so an element deleted and reused
 * meanwhile could lead it into another chain and repeat keys: hashes keep lookup batches.
 * (The map-element iterator, `iter/bpf_map_elem`, is refused with EPERM before verification on
 * this kernel, so it is not an alternative.)
 */
import { debuglog } from 'node:util';
import { progRunBare } from '../../sys/bpf.js';
import { O_WRONLY, fdAccessMode } from '../../sys/fd.js';
import { MapType } from '../../sys/uapi.js';
import type { BatchChunk } from '../batch-walk.js';
import type { BpfMap } from '../map.js';
import { LoadedLoop, MAX_INSN_OFF, loadLoop, walkProgram } from './program.js';
import { KEYS, createScratch, releaseScratch, scratchLayout } from './scratch.js';

const debug = debuglog('bpfmap');

/** Map types walked in one kernel entry (per-CPU maps: for-each sees only the current CPU's value). */
const WALK_TYPES = new Set<number>([MapType.Array]);

/** The largest scratch a walk maps: maps whose max_entries records need more take lookup batches. */
export const MAX_WALK_SCRATCH = 16 << 20;

/** Why this map cannot be walked in one kernel entry, or undefined when it can. */
export function walkRefusal(map: BpfMap, fd: number): string | undefined {
  if (process.env.BPFMAP_KERNEL_LOOP === '0') return 'BPFMAP_KERNEL_LOOP=0';
  if (!WALK_TYPES.has(map.type)) return 'a one-entry walk is for array maps (see walk.ts for why)';
  const mode = fdAccessMode(fd);
  if (mode === undefined || mode === O_WRONLY) return 'the fd is not readable';
  if (map.valueSize > MAX_INSN_OFF || map.keySize > MAX_INSN_OFF) return 'records too large for the loop';
  if (scratchLayout(map.maxEntries, map.keySize, map.valueSize).size > MAX_WALK_SCRATCH)
    return `max_entries records need more than ${MAX_WALK_SCRATCH >> 20} MiB of scratch`;
  return undefined;
}

/** Loads the walk of `map` (fd `fd`): the loop, or a string saying why not. */
export function loadWalk(map: BpfMap, fd: number): LoadedLoop | string {
  const why = walkRefusal(map, fd);
  if (why !== undefined) return why;
  const scratch = createScratch(scratchLayout(map.maxEntries, map.keySize, map.valueSize));
  if (typeof scratch === 'string') return scratch;
  const prog = loadLoop(walkProgram(fd, scratch.fd, scratch.layout), debug.enabled);
  if (typeof prog === 'string') {
    releaseScratch(scratch);
    return prog;
  }
  return new LoadedLoop(scratch, prog);
}

/** Says once per map why its walks take lookup batches. */
export function walkOff(map: BpfMap, why: string): void {
  debug('walks of map %s (%s) take lookup batches, not one kernel entry: %s', map.id, map.name, why);
}

/**
 * One pass over the map: the records copied out of the scratch, in chunks of at most `size`
 * (views into one buffer), or undefined when the run failed or the scratch filled (then the caller
 * walks with lookup batches instead).
 */
export function walkOnce(map: BpfMap, loop: LoadedLoop, size: number): BatchChunk[] | undefined {
  const { bytes, header, layout } = loop.scratch;
  if (progRunBare(loop.progFd) !== 0 || header[1] !== 0) return undefined;
  const n = header[0] as number;
  const ks = map.keySize;
  const vs = map.valueSize;
  const keys = bytes.slice(KEYS, KEYS + n * ks);
  const values = bytes.slice(layout.values, layout.values + n * vs);
  const chunks: BatchChunk[] = [];
  for (let at = 0; at < n; at += size) {
    const c = Math.min(size, n - at);
    chunks.push({
      count: c,
      keys: keys.subarray(at * ks, (at + c) * ks),
      values: values.subarray(at * vs, (at + c) * vs),
    });
  }
  return chunks;
}
