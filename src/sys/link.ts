/**
 * The syscall layer of links: BPF_LINK_CREATE, BPF_LINK_UPDATE,
 * BPF_LINK_DETACH, BPF_RAW_TRACEPOINT_OPEN, BPF_ITER_CREATE, and
 * perf_event_open(2) for tracepoint, software, tracefs probe and uprobe/kprobe
 * PMU events.
 *
 * Offsets are those of `union bpf_attr` and `struct perf_event_attr` in Linux
 * 6.18 (checked with offsetof against the running kernel's BTF dumped as C;
 * the Debian uapi header is older than the tcx/uprobe_multi members). Every
 * function returns the kernel's result or -errno.
 */
import { addon } from './addon.js';
import { PerfProbeAttr } from './layout.js';
import { Cmd } from './uapi.js';

/** `union bpf_attr` for BPF_LINK_CREATE (the members we fill). */
export const LinkCreateAttr = {
  progFd: 0,
  targetFd: 4,
  attachType: 8,
  flags: 12,
  /** target_btf_id / tcx.relative_fd / uprobe_multi.path / iter_info / perf_event.bpf_cookie. */
  u0: 16,
  /** iter_info_len / tcx.expected_revision / uprobe_multi.offsets. */
  u1: 24,
  uprobeMultiCnt: 48,
  uprobeMultiFlags: 52,
  uprobeMultiPid: 56,
  SIZE: 64,
} as const;

/** What BPF_LINK_CREATE takes. */
export interface LinkCreateParams {
  progFd: number;
  /** A cgroup/netns/map/perf event fd, or an ifindex. */
  target: number;
  attachType: number;
  flags: number;
  /** u32 at offset 16 (target_btf_id, tcx relative fd). */
  word16?: number;
  /** u64 at offset 16: perf_event.bpf_cookie. */
  cookie?: bigint;
  /** For iterators: the `bpf_iter_link_info` bytes (iter_info, iter_info_len). */
  iterInfo?: Uint8Array | null;
  /** For uprobe_multi: the NUL-terminated path, the u64 offsets, and the pid filter. */
  uprobeMulti?: { path: Uint8Array; offsets: Uint8Array; count: number; flags: number; pid: number } | null;
}

const linkCreateAttr = new Uint8Array(LinkCreateAttr.SIZE);
const linkCreateView = new DataView(linkCreateAttr.buffer);

/** BPF_LINK_CREATE: the link's fd, or -errno. */
export function linkCreate(p: LinkCreateParams): number {
  const A = LinkCreateAttr;
  linkCreateAttr.fill(0);
  const v = linkCreateView;
  v.setUint32(A.progFd, p.progFd, true);
  v.setUint32(A.targetFd, p.target, true);
  v.setUint32(A.attachType, p.attachType, true);
  v.setUint32(A.flags, p.flags, true);
  if (p.word16 !== undefined) v.setUint32(A.u0, p.word16, true);
  if (p.cookie !== undefined) v.setBigUint64(A.u0, p.cookie, true);
  if (p.iterInfo) {
    v.setUint32(A.u1, p.iterInfo.length, true);
    return addon.bpf(Cmd.BPF_LINK_CREATE, linkCreateAttr, A.u0, p.iterInfo, p.iterInfo.length);
  }
  if (p.uprobeMulti) {
    const u = p.uprobeMulti;
    v.setUint32(A.uprobeMultiCnt, u.count, true);
    v.setUint32(A.uprobeMultiFlags, u.flags, true);
    v.setUint32(A.uprobeMultiPid, u.pid, true);
    return addon.bpf(Cmd.BPF_LINK_CREATE, linkCreateAttr, A.u0, u.path, u.path.length, A.u1, u.offsets, u.count * 8);
  }
  return addon.bpf(Cmd.BPF_LINK_CREATE, linkCreateAttr);
}

/** BPF_LINK_UPDATE: swaps the link's program (`oldProgFd` with BPF_F_REPLACE): 0 or -errno. */
export function linkUpdate(linkFd: number, newProgFd: number, oldProgFd: number): number {
  const attr = new Uint8Array(16);
  const v = new DataView(attr.buffer);
  v.setUint32(0, linkFd, true);
  v.setUint32(4, newProgFd, true);
  if (oldProgFd >= 0) {
    v.setUint32(8, 1 << 2, true); // BPF_F_REPLACE
    v.setUint32(12, oldProgFd, true);
  }
  return addon.bpf(Cmd.BPF_LINK_UPDATE, attr);
}

/** BPF_LINK_DETACH: detaches the link's program while the fd stays open: 0 or -errno. */
export function linkDetach(linkFd: number): number {
  const attr = new Uint8Array(4);
  new DataView(attr.buffer).setUint32(0, linkFd, true);
  return addon.bpf(Cmd.BPF_LINK_DETACH, attr);
}

/** BPF_RAW_TRACEPOINT_OPEN of `name` (NUL-terminated; null for tp_btf/fentry/…, whose target is in the program): a link fd or -errno. */
export function rawTracepointOpen(progFd: number, name: Uint8Array | null): number {
  const attr = new Uint8Array(16);
  new DataView(attr.buffer).setUint32(8, progFd, true);
  if (name === null) return addon.bpf(Cmd.BPF_RAW_TRACEPOINT_OPEN, attr);
  return addon.bpf(Cmd.BPF_RAW_TRACEPOINT_OPEN, attr, 0, name, name.length);
}

/** BPF_ITER_CREATE: an fd whose read(2) runs the iterator program once, or -errno. */
export function iterCreate(linkFd: number): number {
  const attr = new Uint8Array(8);
  new DataView(attr.buffer).setUint32(0, linkFd, true);
  return addon.bpf(Cmd.BPF_ITER_CREATE, attr);
}

/** `struct perf_event_attr`: the fields a tracepoint, probe or software event needs (size PERF_ATTR_SIZE_VER1). */
const PERF_ATTR_SIZE = PerfProbeAttr.SIZE;
/** PERF_TYPE_* */
export const PerfType = { Hardware: 0, Software: 1, Tracepoint: 2 } as const;
/** PERF_COUNT_SW_* we use. */
export const PerfSw = { CpuClock: 0, TaskClock: 1 } as const;

/** What `perfEventOpen` opens. */
export interface PerfOpenParams {
  type: number;
  config: bigint;
  /** sample_period, or sample_freq when `freq` is set. */
  sample?: bigint;
  freq?: boolean;
  pid: number;
  cpu: number;
  /** For the uprobe/kprobe PMUs: the NUL-terminated path or symbol whose address goes into config1. */
  name?: Uint8Array;
  /** config2: the file offset (uprobe PMU) or the offset from the symbol (kprobe PMU). */
  config2?: bigint;
}

/** perf_event_open(2) (close-on-exec): an fd or -errno. */
export function perfEventOpen(p: PerfOpenParams): number {
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const v = new DataView(attr.buffer);
  v.setUint32(0, p.type, true);
  v.setUint32(4, PERF_ATTR_SIZE, true);
  v.setBigUint64(8, p.config, true);
  v.setBigUint64(16, p.sample ?? 1n, true);
  // flags word at 40: bit 10 freq; the event starts enabled (disabled=0).
  if (p.freq) v.setBigUint64(40, 1n << 10n, true);
  if (p.config2 !== undefined) v.setBigUint64(PerfProbeAttr.probeOffset, p.config2, true);
  // PERF_FLAG_FD_CLOEXEC; the addon writes the address of (a copy of) `name` into config1 (PerfProbeAttr.uprobePath)
  if (p.name) return addon.perfEventOpen(attr, p.pid, p.cpu, -1, 1 << 3, p.name);
  return addon.perfEventOpen(attr, p.pid, p.cpu, -1, 1 << 3);
}

/** PERF_EVENT_IOC_SET_BPF then PERF_EVENT_IOC_ENABLE on perf event `pfd` (the pre-5.15 way to run a program on it): 0 or -errno. */
export function perfEventSetBpf(pfd: number, progFd: number): number {
  const r = addon.ioctl(pfd, 0x40042408, progFd);
  if (r < 0) return r;
  return addon.ioctl(pfd, 0x2400, 0);
}

/** PERF_EVENT_IOC_DISABLE on `pfd`: 0 or -errno. */
export function perfEventDisable(pfd: number): number {
  return addon.ioctl(pfd, 0x2401, 0);
}
