/**
 * What the kernel says about loaded programs and links (BPF_OBJ_GET_INFO_BY_FD):
 * `listPrograms`, `programInfo`, `listLinks`, `linkInfo`, as `bpftool prog show`
 * and `bpftool link show` print them.
 */
import { BpfError } from '../errors.js';
import { cPath, closeFd, objGet, objGetInfo, objGetInfoPointing } from '../sys/bpf.js';
import { type IdKind, fdById, listIds } from '../sys/ids.js';
import { LinkInfoLayout as LI, ProgInfoLayout as PI } from '../sys/layout.js';
import type { ProgType } from '../sys/uapi.js';
import { checkU32 } from '../validate.js';

/** A loaded program's `bpf_prog_info`, as {@link listPrograms} and {@link programInfo} return it. */
export interface ProgramInfo {
  /** Kernel-wide program id. */
  id: number;
  type: ProgType;
  name: string;
  /** The program's tag (a hash of its instructions), as 16 hex digits. */
  tag: string;
  /** Ids of the maps the program uses. */
  mapIds: number[];
  /** BTF object id, 0 when the program has none. */
  btfId: number;
  /** Total run time in ns and run count; 0 unless statistics are on (`sysctl kernel.bpf_stats_enabled=1`). */
  runTimeNs: number;
  runCount: number;
}

/** A link's `bpf_link_info`, as {@link listLinks} and {@link linkInfo} return it. */
export interface KernelLinkInfo {
  /** Kernel-wide link id. */
  id: number;
  /** `enum bpf_link_type` (1 raw_tracepoint, 2 tracing, 3 cgroup, …). */
  type: number;
  /** Id of the program the link attaches. */
  programId: number;
  /** The tracepoint of a raw tracepoint link. */
  tracepointName?: string;
}

/** Which object to read: a kernel-wide id, or a path in bpffs where it is pinned. */
export type ObjectRef = { id: number } | { pinned: string };

const latin1 = new TextDecoder('latin1');

function cString(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return latin1.decode(nul < 0 ? b : b.subarray(0, nul));
}

function info(fd: number, size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  const r = objGetInfo(fd, bytes);
  if (r.ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r.ret, { hint: `fd ${fd}` });
  return { bytes, view: new DataView(bytes.buffer) };
}

/** A second BPF_OBJ_GET_INFO_BY_FD whose pointer field at `pointer` gets `buf` and whose count at `count` says `n`. */
function infoPointing(fd: number, size: number, count: number, n: number, pointer: number, buf: Uint8Array): DataView {
  const again = new Uint8Array(size);
  const view = new DataView(again.buffer);
  view.setUint32(count, n, true);
  const r = objGetInfoPointing(fd, again, pointer, buf);
  if (r < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r, { hint: `fd ${fd}` });
  return view;
}

function readProgramInfo(fd: number): ProgramInfo {
  const { bytes, view } = info(fd, PI.SIZE);
  const nMaps = view.getUint32(PI.nrMapIds, true);
  let mapIds: number[] = [];
  if (nMaps > 0) {
    const buf = new Uint8Array(4 * nMaps);
    const v = infoPointing(fd, PI.SIZE, PI.nrMapIds, nMaps, PI.mapIds, buf);
    const got = Math.min(nMaps, v.getUint32(PI.nrMapIds, true));
    const ids = new DataView(buf.buffer);
    mapIds = Array.from({ length: got }, (_, i) => ids.getUint32(4 * i, true));
  }
  return {
    id: view.getUint32(PI.id, true),
    type: view.getUint32(PI.type, true),
    name: cString(bytes.subarray(PI.name, PI.name + 16)),
    tag: Buffer.from(bytes.subarray(PI.tag, PI.tag + 8)).toString('hex'),
    mapIds,
    btfId: view.getUint32(PI.btfId, true),
    runTimeNs: Number(view.getBigUint64(PI.runTimeNs, true)),
    runCount: Number(view.getBigUint64(PI.runCnt, true)),
  };
}

const RAW_TRACEPOINT_LINK = 1;

function readLinkInfo(fd: number): KernelLinkInfo {
  const { view } = info(fd, LI.SIZE);
  const type = view.getUint32(LI.type, true);
  const d: KernelLinkInfo = { id: view.getUint32(LI.id, true), type, programId: view.getUint32(LI.progId, true) };
  if (type === RAW_TRACEPOINT_LINK) {
    const len = view.getUint32(LI.tpNameLen, true);
    if (len > 0 && len <= 4096) {
      const buf = new Uint8Array(len);
      try {
        infoPointing(fd, LI.SIZE, LI.tpNameLen, len, LI.tpName, buf);
        d.tracepointName = cString(buf);
      } catch {} // the name is extra: the link's info stands without it
    }
  }
  return d;
}

function withFd<T>(fd: number, read: (fd: number) => T): T {
  try {
    return read(fd);
  } finally {
    closeFd(fd);
  }
}

function listAll<T>(kind: IdKind, read: (fd: number) => T): T[] {
  const out: T[] = [];
  for (const id of listIds(kind)) {
    const fd = fdById(kind, id, true);
    if (fd !== undefined) out.push(withFd(fd, read)); // undefined: gone meanwhile
  }
  return out;
}

function readOne<T>(kind: IdKind, ref: ObjectRef, read: (fd: number) => T): T {
  if (typeof ref !== 'object' || ref === null) throw new TypeError('expected { id } or { pinned }');
  const pinned = 'pinned' in ref ? ref.pinned : undefined;
  if (pinned !== undefined) {
    if (typeof pinned !== 'string') throw new TypeError(`pinned must be a path string, got ${typeof pinned}`);
    const fd = objGet(cPath(pinned), 0);
    if (fd < 0) throw new BpfError('BPF_OBJ_GET', -fd, { hint: pinned });
    return withFd(fd, read);
  }
  const id = checkU32('id', (ref as { id: unknown }).id);
  return withFd(fdById(kind, id) as number, read);
}

/**
 * Lists every loaded program (needs CAP_SYS_ADMIN); programs unloaded while listing are skipped.
 * Several syscalls per program.
 * @throws {BpfError} EPERM without privileges.
 * @kernel 4.13
 */
export function listPrograms(): ProgramInfo[] {
  return listAll('prog', readProgramInfo);
}

/**
 * Reads what the kernel says about one program, by id or pinned path.
 * @throws {BpfError} ENOENT when there is no such program, EPERM without privileges.
 * @kernel 4.13
 */
export function programInfo(ref: ObjectRef): ProgramInfo {
  return readOne('prog', ref, readProgramInfo);
}

/**
 * Lists every link (needs CAP_SYS_ADMIN); links gone while listing are skipped.
 * @throws {BpfError} EPERM without privileges.
 * @kernel 5.8
 */
export function listLinks(): KernelLinkInfo[] {
  return listAll('link', readLinkInfo);
}

/**
 * Reads what the kernel says about one link, by id or pinned path.
 * @throws {BpfError} ENOENT when there is no such link, EPERM without privileges.
 * @kernel 5.8
 */
export function linkInfo(ref: ObjectRef): KernelLinkInfo {
  return readOne('link', ref, readLinkInfo);
}
