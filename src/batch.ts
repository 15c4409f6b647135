/**
 * Batch commands (BPF_MAP_*_BATCH), libbpf-shaped: flat key/value buffers of
 * `count` elements, an opaque cursor for lookups, and partial progress
 * reported in `BpfError.count` on failure.
 */
import { errnoNumber } from './errors.js';
import { mapError } from './hints.js';
import type { MapShape } from './shape.js';
import { Cmd, mapBatch } from './sys/bpf.js';
import { checkBytes, checkFlags, checkInt, describe } from './validate.js';

const ENOENT = errnoNumber('ENOENT');

export interface BatchOptions {
  /** Per-element flags (`BPF_F_LOCK`, or `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST` for updates). */
  elemFlags?: number;
  /** Command flags (must be 0 today). */
  flags?: number;
}

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

function opt(opts: BatchOptions | undefined): { elemFlags: bigint; flags: bigint } {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null))
    throw new TypeError(`batch options must be an object, got ${describe(opts)}`);
  return {
    elemFlags: BigInt(checkFlags('elemFlags', opts?.elemFlags ?? 0)),
    flags: BigInt(checkFlags('flags', opts?.flags ?? 0)),
  };
}

function checkCount(count: unknown): number {
  return checkInt('count', count, 1, 0xffff_ffff);
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
  const command = del ? 'BPF_MAP_LOOKUP_AND_DELETE_BATCH' : 'BPF_MAP_LOOKUP_BATCH';
  const n = checkCount(count);
  const cur = cursorSize(m);
  if (inBatch !== null) checkBytes('inBatch', inBatch, cur, 'max(key_size, 4)', true);
  checkBytes('outBatch', outBatch, cur, 'max(key_size, 4)', true);
  checkBytes('keys', keys, n * m.keySize, `count × key_size`, true);
  checkBytes(
    'values',
    values,
    n * m.valueBufferSize,
    m.isPerCpu ? 'count × roundUp(value_size, 8) × possibleCpus()' : 'count × value_size',
    true,
  );
  const o = opt(opts);
  const { ret, count: got } = mapBatch(del ? Cmd.BPF_MAP_LOOKUP_AND_DELETE_BATCH : Cmd.BPF_MAP_LOOKUP_BATCH, {
    fd: m.fd,
    inBatch,
    outBatch,
    cursorLength: cur,
    keys,
    keysLength: n * m.keySize,
    values,
    valuesLength: n * m.valueBufferSize,
    count: n,
    ...o,
  });
  if (ret === -ENOENT) return { count: got, done: true };
  if (ret < 0) throw mapError(command, -ret, m, Number(o.elemFlags), processed(n, got));
  return { count: got, done: false };
}

/** One update batch: `count` keys and values; returns how many were applied. */
export function updateBatchOn(m: MapShape, keys: Uint8Array, values: Uint8Array, count: number, opts?: BatchOptions): number {
  const n = checkCount(count);
  checkBytes('keys', keys, n * m.keySize, 'count × key_size', true);
  checkBytes(
    'values',
    values,
    n * m.valueBufferSize,
    m.isPerCpu ? 'count × roundUp(value_size, 8) × possibleCpus()' : 'count × value_size',
    true,
  );
  const o = opt(opts);
  const { ret, count: got } = mapBatch(Cmd.BPF_MAP_UPDATE_BATCH, {
    fd: m.fd,
    inBatch: null,
    outBatch: null,
    cursorLength: 0,
    keys,
    keysLength: n * m.keySize,
    values,
    valuesLength: n * m.valueBufferSize,
    count: n,
    ...o,
  });
  if (ret < 0) throw mapError('BPF_MAP_UPDATE_BATCH', -ret, m, Number(o.elemFlags), processed(n, got));
  return got;
}

/** One delete batch: `count` keys; returns how many were deleted. */
export function deleteBatchOn(m: MapShape, keys: Uint8Array, count: number, opts?: BatchOptions): number {
  const n = checkCount(count);
  checkBytes('keys', keys, n * m.keySize, 'count × key_size', true);
  const o = opt(opts);
  const { ret, count: got } = mapBatch(Cmd.BPF_MAP_DELETE_BATCH, {
    fd: m.fd,
    inBatch: null,
    outBatch: null,
    cursorLength: 0,
    keys,
    keysLength: n * m.keySize,
    values: null,
    valuesLength: 0,
    count: n,
    ...o,
  });
  if (ret < 0) throw mapError('BPF_MAP_DELETE_BATCH', -ret, m, Number(o.elemFlags), processed(n, got));
  return got;
}
