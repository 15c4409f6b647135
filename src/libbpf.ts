/**
 * The libbpf-shaped functions: positional arguments, one syscall each (plus,
 * for a plain fd number, the look-ups that learn the map's sizes).
 *
 * `fd` is a `BpfMap` or an fd number. For a number the library asks the
 * kernel what the fd is and what sizes the map has on every call, so buffers
 * can still be checked: slower, but safe. Buffers must be at least as large
 * as the kernel will read or write.
 */
import { type BatchOptions, type BatchResult, deleteBatchOn, lookupBatchOn, updateBatchOn } from './map/batch.js';
import { BpfError, closedError, errnoNumber } from './errors.js';
import { mapError } from './map/hints.js';
import { readMapInfo, requireMapFd } from './map/info.js';
import { BpfMap, type MapCreateOptions } from './map/map.js';
import { type MapShape, shapeOf } from './map/shape.js';
import { Cmd, cPath, elem, mapFreeze, objGet, objPin } from './sys/bpf.js';
import { fdKind } from './sys/fd.js';
import { BPF_ANY } from './sys/uapi.js';
import type { MapType } from './sys/uapi.js';
import { checkBytes, checkFd, checkFlags, checkPath } from './validate.js';

const ENOENT = errnoNumber('ENOENT');
const EBADF = errnoNumber('EBADF');

/** A map given as a `BpfMap` or an fd number. */
export type MapRef = BpfMap | number;

/** Resolves `fd` to what the element operations need, checking it is an open map. */
function target(fd: MapRef, command: string): MapShape {
  if (fd instanceof BpfMap) {
    if (fd.closed) throw closedError(command);
    return fd;
  }
  return shapeOf(fd, readMapInfo(requireMapFd(fd, command)));
}

function keyArg(m: MapShape, key: unknown, what = 'key'): Uint8Array | null {
  if (m.keySize === 0) {
    if (key === null || key === undefined) return null;
    throw new TypeError(`this map has no keys (key_size 0): pass null as the ${what}`);
  }
  return checkBytes(what, key, m.keySize, "the map's key_size", true);
}

function valueArg(m: MapShape, value: unknown, what = 'value'): Uint8Array {
  return checkBytes(
    what,
    value,
    m.valueBufferSize,
    m.isPerCpu ? 'roundUp(value_size, 8) × possibleCpus() for a per-CPU map' : "the map's value_size",
    true,
  );
}

/** The optional attributes of `bpfMapCreate`, as libbpf's `bpf_map_create_opts`. */
export interface BpfMapCreateOpts
  extends Omit<MapCreateOptions, 'type' | 'name' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags' | 'btf'> {
  mapFlags?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  mapIfindex?: number;
}

/**
 * Creates a map (BPF_MAP_CREATE), like libbpf's `bpf_map_create`.
 * @throws {BpfError} EINVAL with the suspect argument named, EPERM, ENOMEM.
 * @kernel 3.19
 */
export function bpfMapCreate(
  mapType: MapType | number,
  mapName: string | null,
  keySize: number,
  valueSize: number,
  maxEntries: number,
  opts: BpfMapCreateOpts = {},
): BpfMap {
  const { mapFlags, btfFd, btfKeyTypeId, btfValueTypeId, btfVmlinuxValueTypeId, mapIfindex, ...rest } = opts;
  return BpfMap.create({
    ...rest,
    type: mapType,
    name: mapName,
    keySize,
    valueSize,
    maxEntries,
    ...(mapFlags === undefined ? {} : { flags: mapFlags }),
    ...(mapIfindex === undefined ? {} : { ifindex: mapIfindex }),
    ...(btfFd === undefined
      ? {}
      : {
          btf: {
            fd: btfFd,
            keyTypeId: btfKeyTypeId ?? 0,
            valueTypeId: btfValueTypeId ?? 0,
            vmlinuxValueTypeId: btfVmlinuxValueTypeId ?? 0,
          },
        }),
  });
}

/**
 * Creates or updates `key` → `value` (BPF_MAP_UPDATE_ELEM).
 * `flags`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, optionally `| BPF_F_LOCK`.
 * @throws {BpfError} EEXIST, ENOENT, E2BIG (full), EPERM (read-only/frozen).
 * @kernel 3.19
 */
export function bpfMapUpdateElem(fd: MapRef, key: Uint8Array | null, value: Uint8Array, flags: number = BPF_ANY): void {
  const m = target(fd, 'BPF_MAP_UPDATE_ELEM');
  const k = keyArg(m, key);
  const v = valueArg(m, value);
  checkFlags('flags', flags);
  const r = elem(Cmd.BPF_MAP_UPDATE_ELEM, m.fd, k, m.keySize, v, m.valueBufferSize, flags);
  if (r < 0) throw mapError('BPF_MAP_UPDATE_ELEM', -r, m, flags);
}

/**
 * Fills `value` with the value under `key` (BPF_MAP_LOOKUP_ELEM).
 * @returns false when the key is absent (ENOENT).
 * @kernel 3.19
 */
export function bpfMapLookupElem(fd: MapRef, key: Uint8Array | null, value: Uint8Array, flags = 0): boolean {
  return lookupLike(Cmd.BPF_MAP_LOOKUP_ELEM, 'BPF_MAP_LOOKUP_ELEM', fd, key, value, flags);
}

/**
 * Fills `value` with the value under `key` and deletes it (BPF_MAP_LOOKUP_AND_DELETE_ELEM).
 * @returns false when the key is absent (ENOENT).
 * @kernel 4.20 (queue/stack); 5.14 (hash maps)
 */
export function bpfMapLookupAndDeleteElem(fd: MapRef, key: Uint8Array | null, value: Uint8Array, flags = 0): boolean {
  return lookupLike(Cmd.BPF_MAP_LOOKUP_AND_DELETE_ELEM, 'BPF_MAP_LOOKUP_AND_DELETE_ELEM', fd, key, value, flags);
}

function lookupLike(cmd: number, command: string, fd: MapRef, key: Uint8Array | null, value: Uint8Array, flags: number): boolean {
  const m = target(fd, command);
  const k = keyArg(m, key);
  const v = valueArg(m, value);
  checkFlags('flags', flags);
  const r = elem(cmd, m.fd, k, m.keySize, v, m.valueBufferSize, flags);
  if (r === -ENOENT) return false;
  if (r < 0) throw mapError(command, -r, m, flags);
  return true;
}

/**
 * Deletes `key` (BPF_MAP_DELETE_ELEM).
 * @returns false when the key was absent.
 * @throws {BpfError} EINVAL on arrays.
 * @kernel 3.19
 */
export function bpfMapDeleteElem(fd: MapRef, key: Uint8Array | null): boolean {
  const m = target(fd, 'BPF_MAP_DELETE_ELEM');
  const k = keyArg(m, key);
  const r = elem(Cmd.BPF_MAP_DELETE_ELEM, m.fd, k, m.keySize, null, 0, 0);
  if (r === -ENOENT) return false;
  if (r < 0) throw mapError('BPF_MAP_DELETE_ELEM', -r, m);
  return true;
}

/**
 * Writes the key after `key` (null: the first key) into `nextKey` (BPF_MAP_GET_NEXT_KEY).
 * @returns false at the end of the map.
 * @kernel 3.19
 */
export function bpfMapGetNextKey(fd: MapRef, key: Uint8Array | null, nextKey: Uint8Array): boolean {
  const m = target(fd, 'BPF_MAP_GET_NEXT_KEY');
  const k = key === null ? null : checkBytes('key', key, m.keySize, "the map's key_size", true);
  const next = checkBytes('nextKey', nextKey, m.keySize, "the map's key_size", true);
  const r = elem(Cmd.BPF_MAP_GET_NEXT_KEY, m.fd, k, m.keySize, next, m.keySize, 0);
  if (r === -ENOENT) return false;
  if (r < 0) throw mapError('BPF_MAP_GET_NEXT_KEY', -r, m);
  return true;
}

/** Freezes the map against syscall writes (BPF_MAP_FREEZE). @kernel 5.2 */
export function bpfMapFreeze(fd: MapRef): void {
  const m = target(fd, 'BPF_MAP_FREEZE');
  const r = mapFreeze(m.fd);
  if (r < 0) throw mapError('BPF_MAP_FREEZE', -r, m);
}

/**
 * Pins a BPF object (a map, or any bpf fd given as a number) at `path` on a bpffs (BPF_OBJ_PIN).
 * @throws {BpfError} EEXIST, EPERM (not on bpffs), ENOENT (no parent folder).
 * @kernel 4.4
 */
export function bpfObjPin(fd: MapRef | number, path: string): void {
  let raw: number;
  if (fd instanceof BpfMap) {
    if (fd.closed) throw closedError('BPF_OBJ_PIN');
    raw = fd.fd;
  } else {
    raw = checkFd('fd', fd);
    if (fdKind(raw) === undefined) throw new BpfError('BPF_OBJ_PIN', EBADF, { hint: `fd ${raw} is not open` });
  }
  checkPath('path', path);
  const r = objPin(raw, cPath(path));
  if (r < 0) throw mapError('BPF_OBJ_PIN', -r);
}

/**
 * Opens the object pinned at `path` (BPF_OBJ_GET) and returns its fd, which the caller owns
 * (wrap a map's with `BpfMap.fromFd`). `fileFlags`: `BPF_F_RDONLY`, `BPF_F_WRONLY`.
 * @kernel 4.4
 */
export function bpfObjGet(path: string, fileFlags = 0): number {
  checkPath('path', path);
  const r = objGet(cPath(path), checkFlags('fileFlags', fileFlags));
  if (r < 0) throw mapError('BPF_OBJ_GET', -r);
  return r;
}

/**
 * Looks up to `count` elements from cursor `inBatch` (null: the start) into flat `keys`/`values`,
 * writing the next cursor to `outBatch` (BPF_MAP_LOOKUP_BATCH, Linux 5.6+).
 * `done` is true when the kernel reported the end; that last chunk may still carry elements.
 * @throws {BpfError} with `count` set to the elements copied before the failure; ENOSPC when one
 *   hash bucket holds more than `count` elements (retry with a larger count).
 * @kernel 5.6
 */
export function bpfMapLookupBatch(
  fd: MapRef,
  inBatch: Uint8Array | null,
  outBatch: Uint8Array,
  keys: Uint8Array,
  values: Uint8Array,
  count: number,
  opts?: BatchOptions,
): BatchResult {
  return lookupBatchOn(target(fd, 'BPF_MAP_LOOKUP_BATCH'), false, inBatch, outBatch, keys, values, count, opts);
}

/** `bpfMapLookupBatch` that also deletes what it returns (BPF_MAP_LOOKUP_AND_DELETE_BATCH). @kernel 5.6 */
export function bpfMapLookupAndDeleteBatch(
  fd: MapRef,
  inBatch: Uint8Array | null,
  outBatch: Uint8Array,
  keys: Uint8Array,
  values: Uint8Array,
  count: number,
  opts?: BatchOptions,
): BatchResult {
  return lookupBatchOn(target(fd, 'BPF_MAP_LOOKUP_AND_DELETE_BATCH'), true, inBatch, outBatch, keys, values, count, opts);
}

/**
 * Updates `count` elements from flat `keys`/`values` (BPF_MAP_UPDATE_BATCH); returns how many were applied.
 * @throws {BpfError} whose `count` says how many elements were applied before the failure.
 * @kernel 5.6
 */
export function bpfMapUpdateBatch(fd: MapRef, keys: Uint8Array, values: Uint8Array, count: number, opts?: BatchOptions): number {
  return updateBatchOn(target(fd, 'BPF_MAP_UPDATE_BATCH'), keys, values, count, opts);
}

/**
 * Deletes `count` keys from flat `keys` (BPF_MAP_DELETE_BATCH); returns how many were deleted.
 * @throws {BpfError} ENOENT for a missing key, with `count` = keys deleted before it.
 * @kernel 5.6
 */
export function bpfMapDeleteBatch(fd: MapRef, keys: Uint8Array, count: number, opts?: BatchOptions): number {
  return deleteBatchOn(target(fd, 'BPF_MAP_DELETE_BATCH'), keys, count, opts);
}
