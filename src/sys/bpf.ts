/**
 * The syscall layer: one function per bpf(2) command we issue, each filling
 * its `bpf_attr` variant (layouts in ./layout.ts) in a reused scratch buffer.
 *
 * Functions return the kernel's result (>= 0) or -errno; turning that into a
 * `BpfError` with a useful hint is the caller's job, because the caller knows
 * the map. Arguments are assumed validated; the addon still checks buffer
 * lengths against the sizes passed alongside them.
 */
import { addon } from './addon.js';
import * as L from './layout.js';
import { Cmd } from './uapi.js';

export { Cmd };
export type CmdName = keyof typeof Cmd;

const CMD_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Cmd).map(([k, v]) => [v, k]));

/** `BPF_MAP_LOOKUP_ELEM` for 1, and so on. */
export function cmdName(cmd: number): string {
  return CMD_NAMES.get(cmd) ?? `BPF_CMD_${cmd}`;
}

class Scratch {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  clear(): this {
    this.bytes.fill(0);
    return this;
  }
}

const createAttr = new Scratch(L.MapCreateAttr.SIZE);
const elemAttr = new Scratch(L.MapElemAttr.SIZE);
const batchAttr = new Scratch(L.MapBatchAttr.SIZE);
const objAttr = new Scratch(L.ObjAttr.SIZE);
const idAttr = new Scratch(L.GetIdAttr.SIZE);
const infoAttr = new Scratch(L.InfoAttr.SIZE);
const btfLoadAttr = new Scratch(L.BtfLoadAttr.SIZE);

/** The element commands with caller buffers (lookup, update, delete, get-next-key, lookup-and-delete). */
export const elem: typeof addon.elem = addon.elem;

/*
 * The call block: memory shared with the addon for the element commands' hot
 * path. Keys and values are copied into it and results out of it, so the
 * addon never has to find (and V8 never has to move off-heap) the caller's
 * small typed arrays, and the call takes no arguments. Layout: a 64-byte
 * header of u32 words (cmd, fd, key offset, key length, value offset, value
 * length, flags low, flags high, then the i32 result), then the key area,
 * then the value area.
 */
// The layout is declared twice, here and in native/bpfmap.c (CALL_BLOCK_*, ElemBlock's h[i]);
// test/05.layout.test.mjs reads both sources and fails when they disagree.
/** Bytes of the header (CALL_BLOCK_HEADER in C); the key area starts after it. */
export const BLOCK_HEADER = 64;
/** Byte offset of the header's i32 result word (CALL_BLOCK_RESULT in C). */
export const BLOCK_RESULT = 32;
/** A buffer offset that passes NULL (NO_BUFFER in C). */
export const NO_BUFFER = 0xffff_ffff;
const block = new Uint8Array(addon.callBlock());
const header = new Uint32Array(block.buffer, 0, 8);
/** The header's result word, written by `elemBlock()`. */
const result = new Int32Array(block.buffer, BLOCK_RESULT, 1);
/** Offset of the key area in the call block. */
export const BLOCK_KEY = BLOCK_HEADER;
/** The key area's size: larger keys take the `elem` path. */
export const BLOCK_KEY_CAP = 512;
/** Offset of the value area (the next key, for get-next-key). */
export const BLOCK_VALUE = BLOCK_KEY + BLOCK_KEY_CAP;
/** The value area's size: larger values take the `elem` path. */
export const BLOCK_VALUE_CAP = block.length - BLOCK_VALUE;

/*
 * Copies between the call block and small arrays. 4 and 8 bytes (the common
 * key and value sizes) are unrolled: a loop whose trip count comes from the
 * map costs a few nanoseconds more right after a syscall. Past 32 bytes
 * `set` is cheaper than a loop.
 */

/**
 * Copies the first `n` bytes of `src` into the call block at `offset`. `n`
 * is the length the caller checked (never `src.length`, which a subclass can
 * override), and `src` a real Uint8Array of exactly `n` bytes.
 */
export function toBlock(src: Uint8Array, offset: number, n: number): void {
  if (n === 4) {
    block[offset] = src[0] as number;
    block[offset + 1] = src[1] as number;
    block[offset + 2] = src[2] as number;
    block[offset + 3] = src[3] as number;
  } else if (n === 8) {
    block[offset] = src[0] as number;
    block[offset + 1] = src[1] as number;
    block[offset + 2] = src[2] as number;
    block[offset + 3] = src[3] as number;
    block[offset + 4] = src[4] as number;
    block[offset + 5] = src[5] as number;
    block[offset + 6] = src[6] as number;
    block[offset + 7] = src[7] as number;
  } else if (n > 32) {
    block.set(src, offset); // `block` is ours; the callers' `src` is exactly `n` bytes
  } else {
    for (let i = 0; i < n; i++) block[offset + i] = src[i] as number;
  }
}

/** `Uint8Array.prototype.set` as loaded: a subclass of the caller's `out` may override `set`. */
const typedArraySet = Uint8Array.prototype.set;

/** Copies `n` bytes of the call block at `offset` into `dst` (from its start). */
export function fromBlock(dst: Uint8Array, offset: number, n: number): Uint8Array {
  if (n === 4) {
    dst[0] = block[offset] as number;
    dst[1] = block[offset + 1] as number;
    dst[2] = block[offset + 2] as number;
    dst[3] = block[offset + 3] as number;
  } else if (n === 8) {
    dst[0] = block[offset] as number;
    dst[1] = block[offset + 1] as number;
    dst[2] = block[offset + 2] as number;
    dst[3] = block[offset + 3] as number;
    dst[4] = block[offset + 4] as number;
    dst[5] = block[offset + 5] as number;
    dst[6] = block[offset + 6] as number;
    dst[7] = block[offset + 7] as number;
  } else if (n > 32) {
    typedArraySet.call(dst, block.subarray(offset, offset + n));
  } else {
    for (let i = 0; i < n; i++) dst[i] = block[offset + i] as number;
  }
  return dst;
}

/**
 * One element command on the call block: a key of `keyLength` bytes at
 * BLOCK_KEY (none when negative) and a value of `valueLength` bytes at
 * BLOCK_VALUE (none when negative). Returns the result or -errno.
 */
export function elemInBlock(cmd: number, fd: number, keyLength: number, valueLength: number, flags: number): number {
  header[0] = cmd;
  header[1] = fd;
  header[2] = keyLength < 0 ? NO_BUFFER : BLOCK_KEY;
  header[3] = Math.max(keyLength, 0);
  header[4] = valueLength < 0 ? NO_BUFFER : BLOCK_VALUE;
  header[5] = Math.max(valueLength, 0);
  header[6] = flags >>> 0;
  header[7] = flags > 0xffff_ffff ? Math.floor(flags / 2 ** 32) : 0;
  addon.elemBlock();
  return result[0] as number;
}

/**
 * The hot path's element command: `keyLength` bytes of `key` (checked by the
 * caller) copied to BLOCK_KEY, a value area of `valueLength` bytes at
 * BLOCK_VALUE (none when negative), no flags. Returns the result or -errno.
 * Kept small so that the JIT inlines it into callers.
 */
export function elemKeyed(cmd: number, fd: number, key: Uint8Array, keyLength: number, valueLength: number): number {
  toBlock(key, BLOCK_KEY, keyLength);
  return elemInBlock(cmd, fd, keyLength, valueLength, 0);
}

/** close(2). */
export function closeFd(fd: number): number {
  return addon.close(fd);
}

/** A duplicate of `fd` (close-on-exec): a second number for the same open file, or -errno. */
export function dupFd(fd: number): number {
  return addon.dup(fd);
}

export interface MapCreateParams {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  innerMapFd: number;
  numaNode: number;
  /** At most 15 bytes; validated by the caller. */
  name: string;
  mapIfindex: number;
  btfFd: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxValueTypeId: number;
  mapExtra: bigint;
}

/** BPF_MAP_CREATE: the new map's fd, or -errno. */
export function mapCreate(p: MapCreateParams): number {
  const { bytes, view } = createAttr.clear();
  const A = L.MapCreateAttr;
  view.setUint32(A.mapType, p.mapType, true);
  view.setUint32(A.keySize, p.keySize, true);
  view.setUint32(A.valueSize, p.valueSize, true);
  view.setUint32(A.maxEntries, p.maxEntries, true);
  view.setUint32(A.mapFlags, p.mapFlags, true);
  view.setUint32(A.innerMapFd, p.innerMapFd, true);
  view.setUint32(A.numaNode, p.numaNode, true);
  for (let i = 0; i < p.name.length; i++) bytes[A.mapName + i] = p.name.charCodeAt(i);
  view.setUint32(A.mapIfindex, p.mapIfindex, true);
  view.setUint32(A.btfFd, p.btfFd, true);
  view.setUint32(A.btfKeyTypeId, p.btfKeyTypeId, true);
  view.setUint32(A.btfValueTypeId, p.btfValueTypeId, true);
  view.setUint32(A.btfVmlinuxValueTypeId, p.btfVmlinuxValueTypeId, true);
  view.setBigUint64(A.mapExtra, p.mapExtra, true);
  return addon.bpf(Cmd.BPF_MAP_CREATE, bytes);
}

/** BPF_MAP_FREEZE. */
export function mapFreeze(fd: number): number {
  const { bytes, view } = elemAttr.clear();
  view.setUint32(L.MapElemAttr.mapFd, fd, true);
  return addon.bpf(Cmd.BPF_MAP_FREEZE, bytes);
}

export interface BatchArgs {
  fd: number;
  /** Cursor in (null: from the start) and out, each `cursorLength` bytes at least. */
  inBatch: Uint8Array | null;
  outBatch: Uint8Array | null;
  cursorLength: number;
  keys: Uint8Array | null;
  keysLength: number;
  values: Uint8Array | null;
  valuesLength: number;
  count: number;
  elemFlags: bigint;
  flags: bigint;
}

/** One BPF_MAP_*_BATCH command: the result (0 or -errno) and the count the kernel wrote back. */
export function mapBatch(cmd: number, a: BatchArgs): { ret: number; count: number } {
  const { bytes, view } = batchAttr.clear();
  const A = L.MapBatchAttr;
  view.setUint32(A.count, a.count, true);
  view.setUint32(A.mapFd, a.fd, true);
  view.setBigUint64(A.elemFlags, a.elemFlags, true);
  view.setBigUint64(A.flags, a.flags, true);
  const ret = addon.bpf(
    cmd,
    bytes,
    A.inBatch,
    a.inBatch,
    a.inBatch ? a.cursorLength : 0,
    A.outBatch,
    a.outBatch,
    a.outBatch ? a.cursorLength : 0,
    A.keys,
    a.keys,
    a.keysLength,
    A.values,
    a.values,
    a.valuesLength,
  );
  return { ret, count: view.getUint32(A.count, true) };
}

/** A NUL-terminated copy of a path for the kernel. */
export function cPath(path: string): Uint8Array {
  return new TextEncoder().encode(`${path}\0`);
}

/** BPF_OBJ_PIN. */
export function objPin(fd: number, path: Uint8Array): number {
  const { bytes, view } = objAttr.clear();
  view.setUint32(L.ObjAttr.bpfFd, fd, true);
  return addon.bpf(Cmd.BPF_OBJ_PIN, bytes, L.ObjAttr.pathname, path, path.length);
}

/** BPF_OBJ_GET: an fd for the pinned object, or -errno. */
export function objGet(path: Uint8Array, fileFlags: number): number {
  const { bytes, view } = objAttr.clear();
  view.setUint32(L.ObjAttr.fileFlags, fileFlags, true);
  return addon.bpf(Cmd.BPF_OBJ_GET, bytes, L.ObjAttr.pathname, path, path.length);
}

/** BPF_OBJ_GET_INFO_BY_FD into `info`: the result, and how many bytes the kernel filled. */
export function objGetInfo(fd: number, info: Uint8Array): { ret: number; length: number } {
  const { bytes, view } = infoAttr.clear();
  view.setUint32(L.InfoAttr.bpfFd, fd, true);
  view.setUint32(L.InfoAttr.infoLen, info.length, true);
  const ret = addon.bpf(Cmd.BPF_OBJ_GET_INFO_BY_FD, bytes, L.InfoAttr.info, info, info.length);
  return { ret, length: view.getUint32(L.InfoAttr.infoLen, true) };
}

/**
 * BPF_OBJ_GET_INFO_BY_FD into `info` (the kernel fills at most `info.length` bytes): only the
 * result, so that a caller with a preallocated `info` allocates nothing.
 */
export function objGetInfoInto(fd: number, info: Uint8Array): number {
  const { bytes, view } = infoAttr.clear();
  view.setUint32(L.InfoAttr.bpfFd, fd, true);
  view.setUint32(L.InfoAttr.infoLen, info.length, true);
  return addon.bpf(Cmd.BPF_OBJ_GET_INFO_BY_FD, bytes, L.InfoAttr.info, info, info.length);
}

/** BPF_MAP_GET_FD_BY_ID (or another *_GET_FD_BY_ID command). */
export function getFdById(cmd: number, id: number, openFlags = 0): number {
  const { bytes, view } = idAttr.clear();
  view.setUint32(L.GetIdAttr.mapId, id, true);
  view.setUint32(L.GetIdAttr.openFlags, openFlags, true);
  return addon.bpf(cmd, bytes);
}

/** BPF_MAP_GET_NEXT_ID (or another *_GET_NEXT_ID command): result and the next id. */
export function getNextId(cmd: number, startId: number): { ret: number; nextId: number } {
  const { bytes, view } = idAttr.clear();
  view.setUint32(L.GetIdAttr.startId, startId, true);
  const ret = addon.bpf(cmd, bytes);
  return { ret, nextId: view.getUint32(L.GetIdAttr.nextId, true) };
}

/** BPF_BTF_LOAD: the BTF object's fd, or -errno. With a `log` buffer the kernel explains a refusal there. */
export function btfLoad(blob: Uint8Array, log: Uint8Array | null, logLevel: number): number {
  const { bytes, view } = btfLoadAttr.clear();
  view.setUint32(L.BtfLoadAttr.btfSize, blob.length, true);
  view.setUint32(L.BtfLoadAttr.btfLogSize, log ? log.length : 0, true);
  view.setUint32(L.BtfLoadAttr.btfLogLevel, log ? logLevel : 0, true);
  return addon.bpf(
    Cmd.BPF_BTF_LOAD,
    bytes,
    L.BtfLoadAttr.btf,
    blob,
    blob.length,
    L.BtfLoadAttr.btfLogBuf,
    log,
    log ? log.length : 0,
  );
}

const progLoadAttr = new Scratch(L.ProgLoadAttr.SIZE);
const testRunAttr = new Scratch(L.TestRunAttr.SIZE);

export interface ProgLoadParams {
  progType: number;
  /** Encoded instructions, 8 bytes each. */
  insns: Uint8Array;
  /** NUL-terminated license string. */
  license: Uint8Array;
  /** Buffer for the verifier log, or null. */
  log: Uint8Array | null;
  logLevel: number;
  progFlags: number;
  /** At most 15 bytes; validated by the caller. */
  name: string;
  expectedAttachType: number;
  kernVersion: number;
  /** BTF with a FUNC per subprogram, and `bpf_func_info` records (insn_off, type_id), or none. */
  btfFd: number;
  funcInfo: Uint8Array | null;
  /** `bpf_line_info` records (16 bytes each), or none. */
  lineInfo?: Uint8Array | null;
  /** BTF id of the attach target (tracing programs), and the fd of the module BTF holding it (0: vmlinux). */
  attachBtfId?: number;
  attachBtfObjFd?: number;
  /** fds that instructions refer to by index (module BTFs of kfunc calls): u32 each. */
  fdArray?: Uint8Array | null;
}

/** BPF_PROG_LOAD: the program's fd, or -errno. */
export function progLoad(p: ProgLoadParams): number {
  const { bytes, view } = progLoadAttr.clear();
  const A = L.ProgLoadAttr;
  view.setUint32(A.progType, p.progType, true);
  view.setUint32(A.insnCnt, p.insns.length / 8, true);
  view.setUint32(A.logLevel, p.log ? p.logLevel : 0, true);
  view.setUint32(A.logSize, p.log ? p.log.length : 0, true);
  view.setUint32(A.kernVersion, p.kernVersion, true);
  view.setUint32(A.progFlags, p.progFlags, true);
  bytes.set(new TextEncoder().encode(p.name), A.progName);
  view.setUint32(A.expectedAttachType, p.expectedAttachType, true);
  view.setUint32(A.progBtfFd, p.btfFd, true);
  view.setUint32(A.funcInfoRecSize, p.funcInfo ? 8 : 0, true);
  view.setUint32(A.funcInfoCnt, p.funcInfo ? p.funcInfo.length / 8 : 0, true);
  const lineInfo = p.lineInfo ?? null;
  const fdArray = p.fdArray ?? null;
  view.setUint32(A.lineInfoRecSize, lineInfo ? 16 : 0, true);
  view.setUint32(A.lineInfoCnt, lineInfo ? lineInfo.length / 16 : 0, true);
  view.setUint32(A.attachBtfId, p.attachBtfId ?? 0, true);
  view.setUint32(A.attachBtfObjFd, p.attachBtfObjFd ?? 0, true);
  return addon.bpf(
    Cmd.BPF_PROG_LOAD,
    bytes,
    A.lineInfo,
    lineInfo,
    lineInfo ? lineInfo.length : 0,
    A.fdArray,
    fdArray,
    fdArray ? fdArray.length : 0,
    A.funcInfo,
    p.funcInfo,
    p.funcInfo ? p.funcInfo.length : 0,
    A.insns,
    p.insns,
    p.insns.length,
    A.license,
    p.license,
    p.license.length,
    A.logBuf,
    p.log,
    p.log ? p.log.length : 0,
  );
}

export interface TestRunParams {
  progFd: number;
  dataIn: Uint8Array | null;
  dataOut: Uint8Array | null;
  ctxIn: Uint8Array | null;
  ctxOut: Uint8Array | null;
  repeat: number;
  flags: number;
  cpu: number;
}

export interface TestRunResult {
  ret: number;
  retval: number;
  duration: number;
  dataSizeOut: number;
  ctxSizeOut: number;
}

/** BPF_PROG_TEST_RUN. */
export function progTestRun(p: TestRunParams): TestRunResult {
  const { bytes, view } = testRunAttr.clear();
  const A = L.TestRunAttr;
  view.setUint32(A.progFd, p.progFd, true);
  view.setUint32(A.dataSizeIn, p.dataIn ? p.dataIn.length : 0, true);
  view.setUint32(A.dataSizeOut, p.dataOut ? p.dataOut.length : 0, true);
  view.setUint32(A.ctxSizeIn, p.ctxIn ? p.ctxIn.length : 0, true);
  view.setUint32(A.ctxSizeOut, p.ctxOut ? p.ctxOut.length : 0, true);
  view.setUint32(A.repeat, p.repeat, true);
  view.setUint32(A.flags, p.flags, true);
  view.setUint32(A.cpu, p.cpu, true);
  const ret = addon.bpf(
    Cmd.BPF_PROG_TEST_RUN,
    bytes,
    A.dataIn,
    p.dataIn,
    p.dataIn ? p.dataIn.length : 0,
    A.dataOut,
    p.dataOut,
    p.dataOut ? p.dataOut.length : 0,
    A.ctxIn,
    p.ctxIn,
    p.ctxIn ? p.ctxIn.length : 0,
    A.ctxOut,
    p.ctxOut,
    p.ctxOut ? p.ctxOut.length : 0,
  );
  return {
    ret,
    retval: view.getUint32(A.retval, true),
    duration: view.getUint32(A.duration, true),
    dataSizeOut: view.getUint32(A.dataSizeOut, true),
    ctxSizeOut: view.getUint32(A.ctxSizeOut, true),
  };
}

/**
 * BPF_PROG_TEST_RUN of a program that takes no context, data or repeat (a syscall program run for
 * its side effects): the program's return value (a u32), or -errno. Allocates nothing.
 */
export function progRunBare(progFd: number): number {
  const { bytes, view } = testRunAttr.clear();
  const A = L.TestRunAttr;
  view.setUint32(A.progFd, progFd, true);
  const r = addon.bpf(Cmd.BPF_PROG_TEST_RUN, bytes);
  return r < 0 ? r : view.getUint32(A.retval, true);
}

/**
 * BPF_OBJ_GET_INFO_BY_FD with an info struct that itself points at a buffer
 * (`struct bpf_btf_info.btf`, …): the addon writes `buffer`'s address at
 * `pointerOffset` inside `info` and the kernel fills both.
 */
export function objGetInfoPointing(fd: number, info: Uint8Array, pointerOffset: number, buffer: Uint8Array): number {
  const { bytes, view } = infoAttr.clear();
  view.setUint32(L.InfoAttr.bpfFd, fd, true);
  view.setUint32(L.InfoAttr.infoLen, info.length, true);
  return addon.bpfNested(
    Cmd.BPF_OBJ_GET_INFO_BY_FD,
    bytes,
    bytes,
    L.InfoAttr.info,
    info,
    info.length,
    info,
    pointerOffset,
    buffer,
    buffer.length,
  );
}

/** The system's page size. */
export const PAGE_SIZE: number = addon.pageSize();

/** Mapping handles by ArrayBuffer, for unmapBuffer. */
const handles = new WeakMap<ArrayBuffer, object>();

/** mmap(2) of `fd` (MAP_SHARED): an ArrayBuffer over the mapping, or -errno. */
export function mmapFd(fd: number, length: number, offset: number, writable: boolean): ArrayBuffer | number {
  const r = addon.mmap(fd, length, offset, writable);
  if (typeof r === 'number') return r;
  handles.set(r[0], r[1]);
  return r[0];
}

/** Releases a mapping from `mmapFd` now: every view of it becomes empty. False if it is not one. */
export function unmapBuffer(buffer: ArrayBuffer): boolean {
  const h = handles.get(buffer);
  if (h === undefined) return false;
  addon.unmap(h, buffer);
  handles.delete(buffer);
  return true;
}

const attachAttr = new Scratch(L.ProgAttachAttr.SIZE);

/** BPF_PROG_ATTACH / BPF_PROG_DETACH of `progFd` to `targetFd` (a cgroup, …): 0 or -errno. */
export function progAttach(detach: boolean, targetFd: number, progFd: number, attachType: number, flags: number): number {
  const { bytes, view } = attachAttr.clear();
  view.setUint32(L.ProgAttachAttr.targetFd, targetFd, true);
  view.setUint32(L.ProgAttachAttr.attachBpfFd, progFd, true);
  view.setUint32(L.ProgAttachAttr.attachType, attachType, true);
  view.setUint32(L.ProgAttachAttr.attachFlags, flags, true);
  return addon.bpf(detach ? Cmd.BPF_PROG_DETACH : Cmd.BPF_PROG_ATTACH, bytes);
}

/** pidfd_open(2): a pidfd (keys of task storage maps), or -errno. */
export function pidfdOpen(pid: number): number {
  return addon.pidfdOpen(pid);
}

/** perf_event_open(2) of a BPF output event on `cpu` (any process), for perf event arrays: an fd or -errno. */
export function perfEventOpenBpfOutput(cpu: number, wakeupEvents: number): number {
  const attr = new Uint8Array(L.PerfEventAttr.SIZE);
  const v = new DataView(attr.buffer);
  const A = L.PerfEventAttr;
  v.setUint32(A.type, 1, true); // PERF_TYPE_SOFTWARE
  v.setUint32(A.size, L.PerfEventAttr.SIZE, true); // PERF_ATTR_SIZE_VER0
  v.setBigUint64(A.config, 10n, true); // PERF_COUNT_SW_BPF_OUTPUT
  v.setBigUint64(A.samplePeriod, 1n, true);
  v.setBigUint64(A.sampleType, 1n << 10n, true); // PERF_SAMPLE_RAW
  v.setUint32(A.wakeupEvents, wakeupEvents, true);
  return addon.perfEventOpen(attr, -1, cpu, -1, 1 << 3); // PERF_FLAG_FD_CLOEXEC
}
