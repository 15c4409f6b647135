/**
 * ELF section names of programs → program type, expected attach type and
 * load flags, following the conventions libbpf defines (`SEC("xdp")`,
 * `SEC("kprobe/do_unlinkat")`, …), so objects written for libbpf load the
 * same way here.
 */
import { AttachType as A, ProgType as P } from '../sys/uapi.js';

/** `BPF_F_SLEEPABLE` (prog_flags). */
export const BPF_F_SLEEPABLE = 1 << 4;
/** `BPF_F_XDP_HAS_FRAGS` (prog_flags). */
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

// Attach types newer than the generated uapi header (linux/bpf.h of Linux 6.1).
const TCX_INGRESS = 46;
const TCX_EGRESS = 47;
const TRACE_UPROBE_MULTI = 48;
const CGROUP_UNIX_CONNECT = 49;
const CGROUP_UNIX_SENDMSG = 50;
const CGROUP_UNIX_RECVMSG = 51;
const CGROUP_UNIX_GETPEERNAME = 52;
const CGROUP_UNIX_GETSOCKNAME = 53;
const NETKIT_PRIMARY = 54;
const NETKIT_PEER = 55;
const TRACE_KPROBE_SESSION = 56;
const TRACE_UPROBE_SESSION = 57;
const PROG_NETFILTER = 32;
const ATTACH_NETFILTER = 45;

/** What a section name says about the programs in it. */
export interface SectionKind {
  /** The program type (`ProgType`). */
  type: number;
  /** `expected_attach_type` sent at load (0 when the type needs none). */
  expectedAttachType: number;
  /** Program flags the section implies (`BPF_F_SLEEPABLE`, `BPF_F_XDP_HAS_FRAGS`). */
  flags: number;
  /** The program attaches to a kernel function or hook found by BTF id (fentry, lsm, tp_btf, iter, …). */
  btfAttach: boolean;
  /** What follows the section's prefix and `/`: the attach target (`do_unlinkat`, `syscalls/sys_enter_openat`); empty if none. */
  target: string;
}

/**
 * One row: the section name, how it matches, and what it means. `match`:
 * 'exact' (the whole name), 'target' (the name alone or followed by `/…`).
 */
type Row = [name: string, match: 'exact' | 'target', type: number, attach: number, flags?: number, btf?: boolean];

const S = BPF_F_SLEEPABLE;
const F = BPF_F_XDP_HAS_FRAGS;

// Order matters: the first row that matches wins (longer names before their prefixes).
const TABLE: readonly Row[] = [
  ['socket', 'exact', P.SocketFilter, 0],
  ['sk_reuseport/migrate', 'exact', P.SkReuseport, A.SkReuseportSelectOrMigrate],
  ['sk_reuseport', 'exact', P.SkReuseport, A.SkReuseportSelect],
  ['kprobe.multi', 'target', P.Kprobe, A.TraceKprobeMulti],
  ['kretprobe.multi', 'target', P.Kprobe, A.TraceKprobeMulti],
  ['kprobe.session', 'target', P.Kprobe, TRACE_KPROBE_SESSION],
  ['uprobe.multi.s', 'target', P.Kprobe, TRACE_UPROBE_MULTI, S],
  ['uretprobe.multi.s', 'target', P.Kprobe, TRACE_UPROBE_MULTI, S],
  ['uprobe.multi', 'target', P.Kprobe, TRACE_UPROBE_MULTI],
  ['uretprobe.multi', 'target', P.Kprobe, TRACE_UPROBE_MULTI],
  ['uprobe.session.s', 'target', P.Kprobe, TRACE_UPROBE_SESSION, S],
  ['uprobe.session', 'target', P.Kprobe, TRACE_UPROBE_SESSION],
  ['kprobe', 'target', P.Kprobe, 0],
  ['kretprobe', 'target', P.Kprobe, 0],
  ['uprobe.s', 'target', P.Kprobe, 0, S],
  ['uretprobe.s', 'target', P.Kprobe, 0, S],
  ['uprobe', 'target', P.Kprobe, 0],
  ['uretprobe', 'target', P.Kprobe, 0],
  ['ksyscall', 'target', P.Kprobe, 0],
  ['kretsyscall', 'target', P.Kprobe, 0],
  ['usdt.s', 'target', P.Kprobe, 0, S],
  ['usdt', 'target', P.Kprobe, 0],
  ['tc/ingress', 'exact', P.SchedCls, TCX_INGRESS],
  ['tc/egress', 'exact', P.SchedCls, TCX_EGRESS],
  ['tcx/ingress', 'exact', P.SchedCls, TCX_INGRESS],
  ['tcx/egress', 'exact', P.SchedCls, TCX_EGRESS],
  ['tc', 'exact', P.SchedCls, 0],
  ['classifier', 'exact', P.SchedCls, 0],
  ['action', 'exact', P.SchedAct, 0],
  ['netkit/primary', 'exact', P.SchedCls, NETKIT_PRIMARY],
  ['netkit/peer', 'exact', P.SchedCls, NETKIT_PEER],
  ['tracepoint.s', 'target', P.Tracepoint, 0, S],
  ['tp.s', 'target', P.Tracepoint, 0, S],
  ['tracepoint', 'target', P.Tracepoint, 0],
  ['tp', 'target', P.Tracepoint, 0],
  ['raw_tracepoint.s', 'target', P.RawTracepoint, 0, S],
  ['raw_tp.s', 'target', P.RawTracepoint, 0, S],
  ['raw_tracepoint.w', 'target', P.RawTracepointWritable, 0],
  ['raw_tp.w', 'target', P.RawTracepointWritable, 0],
  ['raw_tracepoint', 'target', P.RawTracepoint, 0],
  ['raw_tp', 'target', P.RawTracepoint, 0],
  ['tp_btf.s', 'target', P.Tracing, A.TraceRawTp, S, true],
  ['tp_btf', 'target', P.Tracing, A.TraceRawTp, 0, true],
  ['fentry.s', 'target', P.Tracing, A.TraceFentry, S, true],
  ['fmod_ret.s', 'target', P.Tracing, A.ModifyReturn, S, true],
  ['fexit.s', 'target', P.Tracing, A.TraceFexit, S, true],
  ['fentry', 'target', P.Tracing, A.TraceFentry, 0, true],
  ['fmod_ret', 'target', P.Tracing, A.ModifyReturn, 0, true],
  ['fexit', 'target', P.Tracing, A.TraceFexit, 0, true],
  ['freplace', 'target', P.Ext, 0, 0, true],
  ['lsm.s', 'target', P.Lsm, A.LsmMac, S, true],
  ['lsm_cgroup', 'target', P.Lsm, A.LsmCgroup, 0, true],
  ['lsm', 'target', P.Lsm, A.LsmMac, 0, true],
  ['iter.s', 'target', P.Tracing, A.TraceIter, S, true],
  ['iter', 'target', P.Tracing, A.TraceIter, 0, true],
  ['syscall', 'exact', P.Syscall, 0, S],
  ['xdp.frags/devmap', 'exact', P.Xdp, A.XdpDevmap, F],
  ['xdp/devmap', 'exact', P.Xdp, A.XdpDevmap],
  ['xdp.frags/cpumap', 'exact', P.Xdp, A.XdpCpumap, F],
  ['xdp/cpumap', 'exact', P.Xdp, A.XdpCpumap],
  ['xdp.frags', 'exact', P.Xdp, A.Xdp, F],
  ['xdp', 'exact', P.Xdp, A.Xdp],
  ['perf_event', 'exact', P.PerfEvent, 0],
  ['lwt_in', 'exact', P.LwtIn, 0],
  ['lwt_out', 'exact', P.LwtOut, 0],
  ['lwt_xmit', 'exact', P.LwtXmit, 0],
  ['lwt_seg6local', 'exact', P.LwtSeg6local, 0],
  ['sockops', 'exact', P.SockOps, A.CgroupSockOps],
  ['sk_skb/stream_parser', 'exact', P.SkSkb, A.SkSkbStreamParser],
  ['sk_skb/stream_verdict', 'exact', P.SkSkb, A.SkSkbStreamVerdict],
  ['sk_skb/verdict', 'exact', P.SkSkb, A.SkSkbVerdict],
  ['sk_skb', 'exact', P.SkSkb, 0],
  ['sk_msg', 'exact', P.SkMsg, A.SkMsgVerdict],
  ['lirc_mode2', 'exact', P.LircMode2, A.LircMode2],
  ['flow_dissector', 'exact', P.FlowDissector, A.FlowDissector],
  ['cgroup_skb/ingress', 'exact', P.CgroupSkb, A.CgroupInetIngress],
  ['cgroup_skb/egress', 'exact', P.CgroupSkb, A.CgroupInetEgress],
  ['cgroup/skb', 'exact', P.CgroupSkb, 0],
  ['cgroup/sock_create', 'exact', P.CgroupSock, A.CgroupInetSockCreate],
  ['cgroup/sock_release', 'exact', P.CgroupSock, A.CgroupInetSockRelease],
  ['cgroup/sock', 'exact', P.CgroupSock, A.CgroupInetSockCreate],
  ['cgroup/post_bind4', 'exact', P.CgroupSock, A.CgroupInet4PostBind],
  ['cgroup/post_bind6', 'exact', P.CgroupSock, A.CgroupInet6PostBind],
  ['cgroup/bind4', 'exact', P.CgroupSockAddr, A.CgroupInet4Bind],
  ['cgroup/bind6', 'exact', P.CgroupSockAddr, A.CgroupInet6Bind],
  ['cgroup/connect4', 'exact', P.CgroupSockAddr, A.CgroupInet4Connect],
  ['cgroup/connect6', 'exact', P.CgroupSockAddr, A.CgroupInet6Connect],
  ['cgroup/connect_unix', 'exact', P.CgroupSockAddr, CGROUP_UNIX_CONNECT],
  ['cgroup/sendmsg4', 'exact', P.CgroupSockAddr, A.CgroupUdp4Sendmsg],
  ['cgroup/sendmsg6', 'exact', P.CgroupSockAddr, A.CgroupUdp6Sendmsg],
  ['cgroup/sendmsg_unix', 'exact', P.CgroupSockAddr, CGROUP_UNIX_SENDMSG],
  ['cgroup/recvmsg4', 'exact', P.CgroupSockAddr, A.CgroupUdp4Recvmsg],
  ['cgroup/recvmsg6', 'exact', P.CgroupSockAddr, A.CgroupUdp6Recvmsg],
  ['cgroup/recvmsg_unix', 'exact', P.CgroupSockAddr, CGROUP_UNIX_RECVMSG],
  ['cgroup/getpeername4', 'exact', P.CgroupSockAddr, A.CgroupInet4Getpeername],
  ['cgroup/getpeername6', 'exact', P.CgroupSockAddr, A.CgroupInet6Getpeername],
  ['cgroup/getpeername_unix', 'exact', P.CgroupSockAddr, CGROUP_UNIX_GETPEERNAME],
  ['cgroup/getsockname4', 'exact', P.CgroupSockAddr, A.CgroupInet4Getsockname],
  ['cgroup/getsockname6', 'exact', P.CgroupSockAddr, A.CgroupInet6Getsockname],
  ['cgroup/getsockname_unix', 'exact', P.CgroupSockAddr, CGROUP_UNIX_GETSOCKNAME],
  ['cgroup/sysctl', 'exact', P.CgroupSysctl, A.CgroupSysctl],
  ['cgroup/getsockopt', 'exact', P.CgroupSockopt, A.CgroupGetsockopt],
  ['cgroup/setsockopt', 'exact', P.CgroupSockopt, A.CgroupSetsockopt],
  ['cgroup/dev', 'exact', P.CgroupDevice, A.CgroupDevice],
  ['struct_ops.s', 'target', P.StructOps, 0, S],
  ['struct_ops', 'target', P.StructOps, 0],
  ['sk_lookup', 'exact', P.SkLookup, A.SkLookup],
  ['netfilter', 'exact', PROG_NETFILTER, ATTACH_NETFILTER],
];

/**
 * What the section name `name` means, or undefined when no convention
 * matches (such a program has no known type: loading it is an error).
 */
export function sectionKind(name: string): SectionKind | undefined {
  for (const [prefix, match, type, expectedAttachType, flags = 0, btf = false] of TABLE) {
    let target: string;
    if (name === prefix) target = '';
    else if (match === 'target' && name.startsWith(`${prefix}/`)) target = name.slice(prefix.length + 1);
    else continue;
    return { type, expectedAttachType, flags, btfAttach: btf, target };
  }
  return undefined;
}
