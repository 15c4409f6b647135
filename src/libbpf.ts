/**
 * The libbpf-shaped functions: positional arguments, one syscall each (plus,
 * for a plain fd number, one BPF_OBJ_GET_INFO_BY_FD that learns the map's sizes).
 *
 * `fd` is a `BpfMap` or an fd number. A `BpfMap`'s element calls go through
 * the call block like its own methods. For a number the library asks the
 * kernel for the map's type and sizes on every call (one info call into a
 * preallocated buffer), so buffers can still be checked. Buffers must be at
 * least as large as the kernel will read or write.
 *
 * fd reuse: the kernel resolves the number again in the element syscall, so
 * another thread (a worker, native code) may close it and open another map
 * under it in between. The kernel then copies the other map's sizes, but only
 * ever into the call block or a guarded staging copy of the caller's buffer
 * (native/bpfmap.c): a larger copy faults (EFAULT) at the guard page and the
 * library copies out only the sizes it checked, so it never writes past the
 * caller's buffer. Errors are diagnosed afterwards from the fd as it is then.
 */
import { type BatchOptions, type BatchResult, deleteBatchOn, lookupBatchOn, updateBatchOn } from './map/batch.js';
import { BpfError, closedError, errnoNumber } from './errors.js';
import { mapError } from './map/hints.js';
import { readMapInfo, requireMapFd } from './map/info.js';
import { BpfMap, type MapCreateOptions } from './map/map.js';
import { type MapShape, isPerCpuType, shapeOf } from './map/shape.js';
import {
  BLOCK_KEY,
  BLOCK_KEY_CAP,
  BLOCK_VALUE,
  BLOCK_VALUE_CAP,
  Cmd,
  cPath,
  elem,
  elemInBlock,
  elemKeyed,
  fromBlock,
  mapFreeze,
  objGet,
  objGetInfoInto,
  objPin,
  toBlock,
} from './sys/bpf.js';
import { possibleCpus, roundUp8 } from './sys/cpu.js';
import { fdKind } from './sys/fd.js';
import { MapInfoLayout as I } from './sys/layout.js';
import { BPF_ANY, MapType } from './sys/uapi.js';
import { bytesLength, checkBytes, checkFd, checkFlags, checkPath, isBytesOf } from './validate.js';

const ENOENT = errnoNumber('ENOENT');
const EBADF = errnoNumber('EBADF');

/** A map given as a `BpfMap` or an fd number. */
export type MapRef = BpfMap | number;

/** Resolves `fd` to what the element operations need, checking it is an open map (several syscalls for a number). */
function target(fd: MapRef, command: string): MapShape {
  if (fd instanceof BpfMap) {
    if (fd.closed) throw closedError(command);
    return fd;
  }
  return shapeOf(fd, readMapInfo(requireMapFd(fd, command)));
}

/** The head of `struct bpf_map_info` an element call needs (type … map_flags), filled by one info call. */
const infoWords = new Uint32Array(I.name / 4);
const infoBytes = new Uint8Array(infoWords.buffer);

/** What the last info call said about a plain fd, reused by every call (nothing allocated). */
const probed = {
  fd: -1,
  type: 0 as MapType,
  keySize: 0,
  valueSize: 0,
  maxEntries: 0,
  flags: 0,
  isPerCpu: false,
  valueBufferSize: 0,
};

/**
 * The element calls' shape of `fd`: a `BpfMap` itself (open), or for a number what one
 * BPF_OBJ_GET_INFO_BY_FD says, in `probed`. Not proven to be a map: another kind of BPF object
 * also has info (whose words then read as garbage sizes), but the kernel refuses every map
 * command on it before touching a buffer, and every failure is diagnosed with `target()`.
 * Undefined when the info call fails (not open, not a BPF object, not a valid number): `target()` says why.
 */
function quickShape(fd: MapRef, command: string): MapShape | undefined {
  if (fd instanceof BpfMap) {
    if (fd.closed) throw closedError(command);
    return fd;
  }
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0 || fd > 0x7fff_ffff) return undefined;
  if (objGetInfoInto(fd, infoBytes) < 0) return undefined;
  const type = infoWords[I.type / 4] as MapType;
  const valueSize = infoWords[I.valueSize / 4] as number;
  const perCpu = isPerCpuType(type);
  probed.fd = fd;
  probed.type = type;
  probed.keySize = infoWords[I.keySize / 4] as number;
  probed.valueSize = valueSize;
  probed.maxEntries = infoWords[I.maxEntries / 4] as number;
  probed.flags = infoWords[I.mapFlags / 4] as number;
  probed.isPerCpu = perCpu;
  probed.valueBufferSize = perCpu ? roundUp8(valueSize) * possibleCpus() : valueSize;
  return probed;
}

/** The shape to name in an error: a `BpfMap`'s own, or a number's checked afresh (throws when it is no longer an open map). */
function verified(fd: MapRef, m: MapShape, command: string): MapShape {
  return m === fd ? m : target(fd, command);
}

/**
 * A `BpfMap`'s key size for the straight-line paths, or -1 (which no buffer matches) when they do
 * not apply: the map is closed (then `quickShape` says so), has no keys, or its keys are too large
 * for the call block.
 */
function fastKey(map: BpfMap): number {
  const ks = map.keySize;
  return map.fd >= 0 && ks > 0 && ks <= BLOCK_KEY_CAP ? ks : -1;
}

/** `key` needs no checks beyond these: a Uint8Array of at least key_size bytes, or null/undefined for a keyless map. */
function keyOk(m: MapShape, key: unknown): boolean {
  return m.keySize === 0 ? key === null || key === undefined : bytesLength(key) >= m.keySize;
}

/** `flags` as `checkFlags` accepts them. */
function flagsOk(flags: unknown): boolean {
  return flags === 0 || (typeof flags === 'number' && Number.isSafeInteger(flags) && flags >= 0);
}

/** Both buffers exactly the map's sizes and small enough for the call block (a null key for a keyless map). */
function inBlock(m: MapShape, key: Uint8Array | null, value: Uint8Array | null, n: number): boolean {
  const ks = m.keySize;
  return (
    ks <= BLOCK_KEY_CAP &&
    n <= BLOCK_VALUE_CAP &&
    (ks === 0 ? key === null || key === undefined : isBytesOf(key, ks)) &&
    (value === null || isBytesOf(value, n))
  );
}

/** Copies a checked key into the call block: its length there, or -1 for none. */
function stageKey(key: Uint8Array | null, ks: number): number {
  if (ks === 0 || key === null) return -1;
  toBlock(key, BLOCK_KEY, ks);
  return ks;
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
  const command = 'BPF_MAP_UPDATE_ELEM';
  if (fd instanceof BpfMap && flags === 0) {
    // Straight-line, as BpfMap.update: an open map, exact-size buffers that fit the call block.
    const ks = fastKey(fd);
    const n = fd.valueBufferSize;
    if (n <= BLOCK_VALUE_CAP && isBytesOf(key, ks) && isBytesOf(value, n)) {
      toBlock(value, BLOCK_VALUE, n);
      const r = elemKeyed(Cmd.BPF_MAP_UPDATE_ELEM, fd.fd, key, ks, n);
      if (r < 0) throw mapError(command, -r, fd, 0);
      return;
    }
  }
  updateShaped(fd, key, value, flags);
}

/** `bpfMapUpdateElem` past its straight-line case: a plain fd (one info call), other sizes, flags, errors. */
function updateShaped(fd: MapRef, key: Uint8Array | null, value: Uint8Array, flags: number): void {
  const command = 'BPF_MAP_UPDATE_ELEM';
  const m = quickShape(fd, command);
  if (m === undefined) {
    updateChecked(target(fd, command), key, value, flags);
    return;
  }
  const n = m.valueBufferSize;
  let r: number;
  if (flagsOk(flags) && inBlock(m, key, value, n)) {
    toBlock(value, BLOCK_VALUE, n);
    r = elemInBlock(Cmd.BPF_MAP_UPDATE_ELEM, m.fd, stageKey(key, m.keySize), n, flags);
  } else if (flagsOk(flags) && keyOk(m, key) && bytesLength(value) >= n) {
    r = elem(Cmd.BPF_MAP_UPDATE_ELEM, m.fd, m.keySize === 0 ? null : key, m.keySize, value, n, flags);
  } else {
    updateChecked(verified(fd, m, command), key, value, flags);
    return;
  }
  if (r < 0) throw mapError(command, -r, verified(fd, m, command), flags);
}

/** `bpfMapUpdateElem` with every argument checked against a map's shape, in the order of the errors. */
function updateChecked(m: MapShape, key: unknown, value: unknown, flags: unknown): void {
  const k = keyArg(m, key);
  const v = valueArg(m, value);
  const f = checkFlags('flags', flags);
  const r = elem(Cmd.BPF_MAP_UPDATE_ELEM, m.fd, k, m.keySize, v, m.valueBufferSize, f);
  if (r < 0) throw mapError('BPF_MAP_UPDATE_ELEM', -r, m, f);
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
  if (fd instanceof BpfMap && flags === 0) {
    // Straight-line, as BpfMap.lookup with `out`: an open map with keys (no bloom filter), exact-size buffers.
    const ks = fastKey(fd);
    const n = fd.valueBufferSize;
    if (n <= BLOCK_VALUE_CAP && isBytesOf(key, ks) && isBytesOf(value, n)) {
      const r = elemKeyed(cmd, fd.fd, key, ks, n);
      if (r === 0) {
        fromBlock(value, BLOCK_VALUE, n);
        return true;
      }
      if (r === -ENOENT) return false;
      throw mapError(command, -r, fd, 0);
    }
  }
  return lookupShaped(cmd, command, fd, key, value, flags);
}

/** `lookupLike` past its straight-line case: a plain fd (one info call), other sizes, flags, errors. */
function lookupShaped(
  cmd: number,
  command: string,
  fd: MapRef,
  key: Uint8Array | null,
  value: Uint8Array,
  flags: number,
): boolean {
  const m = quickShape(fd, command);
  if (m === undefined) return lookupChecked(cmd, command, target(fd, command), key, value, flags);
  const n = m.valueBufferSize;
  let r: number;
  if (flagsOk(flags) && inBlock(m, key, value, n)) {
    // A bloom filter's lookup reads the value it tests; other maps' lookups only write it.
    if (m.type === MapType.BloomFilter) toBlock(value, BLOCK_VALUE, n);
    r = elemInBlock(cmd, m.fd, stageKey(key, m.keySize), n, flags);
    if (r === 0) fromBlock(value, BLOCK_VALUE, n);
  } else if (flagsOk(flags) && keyOk(m, key) && bytesLength(value) >= n) {
    r = elem(cmd, m.fd, m.keySize === 0 ? null : key, m.keySize, value, n, flags);
  } else {
    return lookupChecked(cmd, command, verified(fd, m, command), key, value, flags);
  }
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw mapError(command, -r, verified(fd, m, command), flags);
}

/** `lookupLike` with every argument checked against a map's shape, in the order of the errors. */
function lookupChecked(cmd: number, command: string, m: MapShape, key: unknown, value: unknown, flags: unknown): boolean {
  const k = keyArg(m, key);
  const v = valueArg(m, value);
  const f = checkFlags('flags', flags);
  const r = elem(cmd, m.fd, k, m.keySize, v, m.valueBufferSize, f);
  if (r === -ENOENT) return false;
  if (r < 0) throw mapError(command, -r, m, f);
  return true;
}

/**
 * Deletes `key` (BPF_MAP_DELETE_ELEM).
 * @returns false when the key was absent.
 * @throws {BpfError} EINVAL on arrays.
 * @kernel 3.19
 */
export function bpfMapDeleteElem(fd: MapRef, key: Uint8Array | null): boolean {
  const command = 'BPF_MAP_DELETE_ELEM';
  if (fd instanceof BpfMap) {
    const ks = fastKey(fd);
    if (isBytesOf(key, ks)) {
      const r = elemKeyed(Cmd.BPF_MAP_DELETE_ELEM, fd.fd, key, ks, -1);
      if (r === 0) return true;
      if (r === -ENOENT) return false;
      throw mapError(command, -r, fd);
    }
  }
  return deleteShaped(fd, key);
}

/** `bpfMapDeleteElem` past its straight-line case: a plain fd (one info call), other sizes, errors. */
function deleteShaped(fd: MapRef, key: Uint8Array | null): boolean {
  const command = 'BPF_MAP_DELETE_ELEM';
  const m = quickShape(fd, command);
  if (m === undefined) return deleteChecked(target(fd, command), key);
  let r: number;
  if (inBlock(m, key, null, 0)) r = elemInBlock(Cmd.BPF_MAP_DELETE_ELEM, m.fd, stageKey(key, m.keySize), -1, 0);
  else if (keyOk(m, key)) r = elem(Cmd.BPF_MAP_DELETE_ELEM, m.fd, m.keySize === 0 ? null : key, m.keySize, null, 0, 0);
  else return deleteChecked(verified(fd, m, command), key);
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw mapError(command, -r, verified(fd, m, command));
}

function deleteChecked(m: MapShape, key: unknown): boolean {
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
  const command = 'BPF_MAP_GET_NEXT_KEY';
  const m = quickShape(fd, command);
  if (m === undefined) return nextKeyChecked(target(fd, command), key, nextKey);
  const ks = m.keySize;
  if (!(ks > 0 && (key === null || bytesLength(key) >= ks) && bytesLength(nextKey) >= ks))
    return nextKeyChecked(verified(fd, m, command), key, nextKey);
  let r: number;
  if (ks <= BLOCK_KEY_CAP && ks <= BLOCK_VALUE_CAP && (key === null || isBytesOf(key, ks)) && isBytesOf(nextKey, ks)) {
    r = elemInBlock(Cmd.BPF_MAP_GET_NEXT_KEY, m.fd, stageKey(key, ks), ks, 0);
    if (r === 0) fromBlock(nextKey, BLOCK_VALUE, ks);
  } else {
    r = elem(Cmd.BPF_MAP_GET_NEXT_KEY, m.fd, key, ks, nextKey, ks, 0);
  }
  if (r === 0) return true;
  if (r === -ENOENT) return false;
  throw mapError(command, -r, verified(fd, m, command));
}

function nextKeyChecked(m: MapShape, key: unknown, nextKey: unknown): boolean {
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
