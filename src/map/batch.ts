/**
 * Batch commands (BPF_MAP_*_BATCH), libbpf-shaped: flat key/value buffers of
 * `count` elements, an opaque cursor for lookups, and partial progress
 * reported in `BpfError.count` on failure.
 */
import { errnoNumber } from '../errors.js';
import { mapError } from './hints.js';
import type { MapShape } from './shape.js';
import { Cmd, cmdName, mapBatch } from '../sys/bpf.js';
import { checkBytes, checkFlags, checkInt, describeValue } from '../validate.js';

const ENOENT = errnoNumber('ENOENT');

/** Options of the libbpf-shaped batch functions (`bpfMapLookupBatch`, …), as libbpf's `bpf_map_batch_opts`. */
export interface BatchOptions {
  /** Per-element flags (`BPF_F_LOCK`, or `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST` for updates). */
  elemFlags?: number;
  /** Command flags (must be 0 today). */
  flags?: number;
}

/** What one batch call did: how many elements, and whether the kernel reached the end of the map. */
export interface BatchResult {
  /** Elements copied into keys/values by this call. */
  count: number;
  /** The kernel reported the end of the map (ENOENT); this call's elements are still valid. */
  done: boolean;
}

/**
 * Elements processed before a failed batch. The kernel writes the count back
 * only once it has started; a refusal before that leaves the requested count
 * in place, which then means none were processed.
 */
function processed(requested: number, returned: number): number {
  return returned >= requested ? 0 : returned;
}

/** The cursor length a batch lookup needs for this map: at least `max(keySize, 4)` bytes. */
export function cursorSize(m: MapShape): number {
  return Math.max(m.keySize, 4);
}

/** The options, each read once (getters run here, before any buffer is checked), then checked. */
function opt(opts: BatchOptions | undefined): { elemFlags: bigint; flags: bigint } {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null))
    throw new TypeError(`batch options must be an object, got ${describeValue(opts)}`);
  const elemFlags = opts?.elemFlags;
  const flags = opts?.flags;
  return {
    elemFlags: BigInt(checkFlags('elemFlags', elemFlags ?? 0)),
    flags: BigInt(checkFlags('flags', flags ?? 0)),
  };
}

function checkCount(count: unknown): number {
  return checkInt('count', count, 1, 0xffff_ffff);
}

/**
 * The caller's buffers, every one checked; `NONE` where the command takes none. `inBatch` may be
 * null (from the start); a null `outBatch`, `keys` or `values` is refused before the syscall: a
 * lookup-and-delete batch would delete the elements and only then fail to copy them out.
 */
interface BatchBuffers {
  inBatch: unknown;
  outBatch: unknown;
  keys: unknown;
  values: unknown;
}

/** Marks a buffer the command does not take. */
const NONE: unique symbol = Symbol('none');

/**
 * Checks the buffers of one batch command against the map, issues it, and
 * throws with the processed count on failure. `endOk`: ENOENT is the end of a
 * lookup walk, not an error.
 */
function run(
  cmd: number,
  command: string,
  m: MapShape,
  count: number,
  b: BatchBuffers,
  opts: BatchOptions | undefined,
  endOk: boolean,
): BatchResult {
  // Options first (their getters may detach buffers), then every check, then the syscall.
  const o = opt(opts);
  const n = checkCount(count);
  const cur = cursorSize(m);
  const inBatch =
    b.inBatch === NONE || b.inBatch === null ? null : checkBytes('inBatch', b.inBatch, cur, 'max(key_size, 4)', true);
  const outBatch = b.outBatch === NONE ? null : checkBytes('outBatch', b.outBatch, cur, 'max(key_size, 4)', true);
  const keys = checkBytes('keys', b.keys, n * m.keySize, 'count × key_size', true);
  const values =
    b.values === NONE
      ? null
      : checkBytes(
          'values',
          b.values,
          n * m.valueBufferSize,
          m.isPerCpu ? 'count × roundUp(value_size, 8) × possibleCpus()' : 'count × value_size',
          true,
        );
  const { ret, count: got } = mapBatch(cmd, {
    fd: m.fd,
    inBatch,
    outBatch,
    cursorLength: cur,
    keys,
    keysLength: n * m.keySize,
    values,
    valuesLength: values ? n * m.valueBufferSize : 0,
    count: n,
    ...o,
  });
  if (endOk && ret === -ENOENT) return { count: got, done: true };
  if (ret < 0) throw mapError(command, -ret, m, Number(o.elemFlags), processed(n, got));
  return { count: got, done: false };
}

/** One lookup (or lookup-and-delete) batch on a resolved map. */
export function lookupBatchOn(
  m: MapShape,
  del: boolean,
  inBatch: Uint8Array | null,
  outBatch: Uint8Array,
  keys: Uint8Array,
  values: Uint8Array,
  count: number,
  opts?: BatchOptions,
): BatchResult {
  const cmd = del ? Cmd.BPF_MAP_LOOKUP_AND_DELETE_BATCH : Cmd.BPF_MAP_LOOKUP_BATCH;
  return run(cmd, cmdName(cmd), m, count, { inBatch, outBatch, keys, values }, opts, true);
}

/** One update batch: `count` keys and values; returns how many were applied. */
export function updateBatchOn(m: MapShape, keys: Uint8Array, values: Uint8Array, count: number, opts?: BatchOptions): number {
  return run(
    Cmd.BPF_MAP_UPDATE_BATCH,
    'BPF_MAP_UPDATE_BATCH',
    m,
    count,
    { inBatch: NONE, outBatch: NONE, keys, values },
    opts,
    false,
  ).count;
}

/** One delete batch: `count` keys; returns how many were deleted. */
export function deleteBatchOn(m: MapShape, keys: Uint8Array, count: number, opts?: BatchOptions): number {
  return run(
    Cmd.BPF_MAP_DELETE_BATCH,
    'BPF_MAP_DELETE_BATCH',
    m,
    count,
    { inBatch: NONE, outBatch: NONE, keys, values: NONE },
    opts,
    false,
  ).count;
}
