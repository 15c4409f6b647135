/**
 * Section-driven attach: what an ELF section name (`SEC("tracepoint/G/N")`,
 * `SEC("xdp")`, `SEC("uprobe/PATH:SYM")`, …) says about where a program
 * attaches, and `attachBySection()`, which fills what the section leaves open
 * (an interface, a binary, a pid, a cgroup) from the caller's options.
 */
import { AttachType } from '../sys/uapi.js';
import {
  type AttachableProgram,
  attachCgroup,
  attachIter,
  attachKprobe,
  attachNetns,
  attachPerfEvent,
  attachRawTracepoint,
  attachSockmap,
  attachTcx,
  attachTracepoint,
  attachTracing,
  attachUprobe,
  attachXdp,
  type PerfEventOptions,
  syscallSymbol,
  type XdpMode,
} from './attach.js';
import type { Link } from './link.js';
import { attachUsdt } from './usdt.js';

/** What `prog.attach()` takes: what the program's section leaves open. */
export interface AttachOptions {
  /** xdp, tc/tcx: the interface (name or index). */
  iface?: string | number;
  /** xdp: the attach mode. */
  mode?: XdpMode;
  /** tc: the direction when the section (`tc`) does not say (default ingress). */
  direction?: 'ingress' | 'egress';
  /** uprobe/uretprobe without a path in the section (`SEC("uprobe")`): the binary, and the symbol or file offset. */
  binary?: string;
  symbol?: string | number;
  /** usdt without a probe in the section (`SEC("usdt")`): the binary (`binary`), provider and probe name. */
  provider?: string;
  probe?: string;
  /** usdt: what `bpf_usdt_cookie()` returns. */
  usdtCookie?: number | bigint;
  /** uprobe, usdt: only this process. perf_event: this process. */
  pid?: number;
  /** kprobe without a function in the section: the function. */
  function?: string;
  /** cgroup programs: the cgroup v2 directory (or an fd); default /sys/fs/cgroup. */
  cgroup?: string | number;
  /** netns programs (sk_lookup, flow_dissector): the namespace (a path or fd); default this process's. */
  netns?: string | number;
  /** sk_skb/sk_msg: the sockmap or sockhash. iter/bpf_map_elem: the map to walk. */
  map?: { readonly fd: number };
  /** perf_event: the event options (CPU, frequency, …). */
  perfEvent?: PerfEventOptions;
}

const CGROUP_SECTIONS: Readonly<Record<string, number>> = {
  'cgroup_skb/ingress': AttachType.CgroupInetIngress,
  'cgroup_skb/egress': AttachType.CgroupInetEgress,
  'cgroup/skb': AttachType.CgroupInetIngress,
  'cgroup/sock': AttachType.CgroupInetSockCreate,
  'cgroup/sock_create': AttachType.CgroupInetSockCreate,
  'cgroup/sock_release': AttachType.CgroupInetSockRelease,
  'cgroup/post_bind4': AttachType.CgroupInet4PostBind,
  'cgroup/post_bind6': AttachType.CgroupInet6PostBind,
  'cgroup/bind4': AttachType.CgroupInet4Bind,
  'cgroup/bind6': AttachType.CgroupInet6Bind,
  'cgroup/connect4': AttachType.CgroupInet4Connect,
  'cgroup/connect6': AttachType.CgroupInet6Connect,
  'cgroup/sendmsg4': AttachType.CgroupUdp4Sendmsg,
  'cgroup/sendmsg6': AttachType.CgroupUdp6Sendmsg,
  'cgroup/recvmsg4': AttachType.CgroupUdp4Recvmsg,
  'cgroup/recvmsg6': AttachType.CgroupUdp6Recvmsg,
  'cgroup/getpeername4': AttachType.CgroupInet4Getpeername,
  'cgroup/getpeername6': AttachType.CgroupInet6Getpeername,
  'cgroup/getsockname4': AttachType.CgroupInet4Getsockname,
  'cgroup/getsockname6': AttachType.CgroupInet6Getsockname,
  'cgroup/dev': AttachType.CgroupDevice,
  'cgroup/sysctl': AttachType.CgroupSysctl,
  'cgroup/getsockopt': AttachType.CgroupGetsockopt,
  'cgroup/setsockopt': AttachType.CgroupSetsockopt,
  sockops: AttachType.CgroupSockOps,
};

const SOCKMAP_SECTIONS: Readonly<Record<string, number>> = {
  'sk_skb/stream_parser': AttachType.SkSkbStreamParser,
  'sk_skb/stream_verdict': AttachType.SkSkbStreamVerdict,
  'sk_skb/verdict': AttachType.SkSkbVerdict,
  sk_skb: AttachType.SkSkbVerdict,
  sk_msg: AttachType.SkMsgVerdict,
};

/** Section prefixes that say where a program attaches, for the error on the others. */
export const ATTACHABLE_SECTIONS = [
  'tracepoint/G/N',
  'tp/G/N',
  'raw_tp/N',
  'raw_tracepoint/N',
  'tp_btf/N',
  'fentry/F',
  'fexit/F',
  'fmod_ret/F',
  'lsm/H',
  'kprobe/F',
  'kretprobe/F',
  'ksyscall/S',
  'kretsyscall/S',
  'uprobe/PATH:SYM',
  'uretprobe/PATH:SYM',
  'usdt/PATH:PROVIDER:NAME',
  'xdp',
  'tc',
  'tcx/ingress',
  'tcx/egress',
  'cgroup_skb/ingress',
  'cgroup_skb/egress',
  'cgroup/…',
  'sockops',
  'sk_lookup',
  'flow_dissector',
  'sk_skb/…',
  'sk_msg',
  'perf_event',
  'iter/…',
];

function need<T>(v: T | undefined, what: string, section: string): T {
  if (v === undefined) throw new TypeError(`section "${section}" does not say ${what}: pass it in attach() options`);
  return v;
}

/** Splits `uprobe/PATH:SYM` (PATH may hold '/'; SYM may be `SYM+OFF` or a 0x offset). */
function uprobeTarget(rest: string, section: string, opts: AttachOptions): { path: string; at: string | number } {
  if (rest === '') {
    return { path: need(opts.binary, 'the binary (binary)', section), at: need(opts.symbol, 'the symbol (symbol)', section) };
  }
  const colon = rest.lastIndexOf(':');
  if (colon < 0) throw new TypeError(`section "${section}" must be uprobe/PATH:SYMBOL`);
  const path = rest.slice(0, colon);
  const sym = rest.slice(colon + 1);
  return { path, at: /^0x[0-9a-f]+$/i.test(sym) ? Number.parseInt(sym, 16) : sym };
}

/** Splits `usdt/PATH:PROVIDER:NAME` (PATH may hold ':' and '/'). */
function usdtTarget(rest: string, section: string, opts: AttachOptions): { path: string; provider: string; name: string } {
  if (rest === '')
    return {
      path: need(opts.binary, 'the binary (binary)', section),
      provider: need(opts.provider, 'the provider (provider)', section),
      name: need(opts.probe, 'the probe name (probe)', section),
    };
  const m = /^(.+):([^:/]+):([^:/]+)$/.exec(rest);
  if (!m) throw new TypeError(`section "${section}" must be usdt/PATH:PROVIDER:NAME`);
  return { path: m[1] as string, provider: m[2] as string, name: m[3] as string };
}

/**
 * Attaches `p` where its ELF section `section` says, `opts` filling what the
 * section leaves open.
 * @throws {TypeError} for a section that says nothing about where to attach, or an option the section needs.
 */
export function attachBySection(p: AttachableProgram, section: string | undefined, opts: AttachOptions = {}): Link {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('attach() options must be an object');
  if (section === undefined || section === '')
    throw new TypeError(
      `program${p.name ? ` "${p.name}"` : ''} has no ELF section to say where it attaches: load it with loadProgram({ section }) (objects do this), or use an explicit form: attachTracepoint(group, name), attachRawTracepoint(name), attachTracing(), attachKprobe(symbol), attachUprobe(path, symbol), attachUsdt(path, provider, name), attachXdp(iface), attachTcx(iface, direction), attachCgroup(cgroup, attachType), attachNetns(), attachSockmap(map, attachType), attachPerfEvent(), attachIter()`,
    );
  const s = section.replace(/^\?/, ''); // libbpf's "maybe" marker
  const slash = s.indexOf('/');
  const head = slash < 0 ? s : s.slice(0, slash);
  const rest = slash < 0 ? '' : s.slice(slash + 1);
  switch (head) {
    case 'tracepoint':
    case 'tp': {
      const [group, name, ...more] = rest.split('/');
      if (!group || !name || more.length) throw new TypeError(`section "${section}" must be ${head}/GROUP/NAME`);
      return attachTracepoint(p, group, name);
    }
    case 'raw_tp':
    case 'raw_tracepoint':
    case 'raw_tp.w':
    case 'raw_tracepoint.w':
      return attachRawTracepoint(p, need(rest || undefined, 'the tracepoint name', section));
    case 'tp_btf':
    case 'fentry':
    case 'fexit':
    case 'fmod_ret':
    case 'fentry.s':
    case 'fexit.s':
    case 'fmod_ret.s':
    case 'lsm':
    case 'lsm.s':
    case 'freplace':
      return attachTracing(p);
    case 'kprobe':
    case 'kretprobe':
      return attachKprobe(p, need(rest || opts.function, 'the kernel function (function)', section), {
        retprobe: head === 'kretprobe',
      });
    case 'ksyscall':
    case 'kretsyscall':
      return attachKprobe(p, syscallSymbol(need(rest || undefined, 'the syscall', section)), {
        retprobe: head === 'kretsyscall',
      });
    case 'uprobe':
    case 'uretprobe':
    case 'uprobe.s':
    case 'uretprobe.s': {
      const { path, at } = uprobeTarget(rest, section, opts);
      return attachUprobe(p, path, at, {
        retprobe: head.startsWith('uretprobe'),
        ...(opts.pid === undefined ? {} : { pid: opts.pid }),
      });
    }
    case 'usdt':
    case 'usdt.s': {
      const t = usdtTarget(rest, section, opts);
      return attachUsdt(p, t.path, t.provider, t.name, {
        ...(opts.pid === undefined ? {} : { pid: opts.pid }),
        ...(opts.usdtCookie === undefined ? {} : { cookie: opts.usdtCookie }),
      });
    }
    case 'xdp':
      if (rest !== '' && rest !== 'frags') break;
      return attachXdp(p, need(opts.iface, 'the interface (iface)', section), opts.mode ? { mode: opts.mode } : {});
    case 'xdp.frags':
      return attachXdp(p, need(opts.iface, 'the interface (iface)', section), opts.mode ? { mode: opts.mode } : {});
    case 'tc':
    case 'classifier':
    case 'tcx': {
      const dir = rest === 'ingress' || rest === 'egress' ? rest : (opts.direction ?? 'ingress');
      return attachTcx(p, need(opts.iface, 'the interface (iface)', section), dir);
    }
    case 'perf_event':
      return attachPerfEvent(p, { ...(opts.pid === undefined ? {} : { pid: opts.pid }), ...opts.perfEvent });
    case 'iter':
    case 'iter.s':
      return attachIter(p, opts.map ? { map: opts.map } : {});
    case 'sk_lookup':
    case 'flow_dissector':
      return attachNetns(p, opts.netns);
  }
  const cg = Object.hasOwn(CGROUP_SECTIONS, s) ? CGROUP_SECTIONS[s] : undefined; // own keys only: s is the ELF's
  if (cg !== undefined) return attachCgroup(p, opts.cgroup ?? '/sys/fs/cgroup', cg);
  const sm = Object.hasOwn(SOCKMAP_SECTIONS, s) ? SOCKMAP_SECTIONS[s] : undefined;
  if (sm !== undefined) return attachSockmap(p, need(opts.map, 'the sockmap (map)', section), sm);
  throw new TypeError(
    `section "${section}" does not say where program${p.name ? ` "${p.name}"` : ''} attaches; sections that do: ${ATTACHABLE_SECTIONS.join(', ')}`,
  );
}

/** Section heads whose program attaches with no options once the section names its target (`HEAD/TARGET`). */
const SELF_ATTACHING = new Set([
  'tracepoint',
  'tp',
  'raw_tp',
  'raw_tracepoint',
  'raw_tp.w',
  'raw_tracepoint.w',
  'tp_btf',
  'fentry',
  'fexit',
  'fmod_ret',
  'fentry.s',
  'fexit.s',
  'fmod_ret.s',
  'lsm',
  'lsm.s',
  'kprobe',
  'kretprobe',
  'ksyscall',
  'kretsyscall',
  'uprobe',
  'uretprobe',
  'uprobe.s',
  'uretprobe.s',
  'usdt',
  'usdt.s',
  'iter',
  'iter.s',
]);

/**
 * Whether section `section` alone says where its program attaches, so that `obj.attach()` attaches
 * it with no options (as libbpf's auto-attach does): `tracepoint/G/N`, `raw_tp/N`, `fentry/F`,
 * `kprobe/F`, `uprobe/PATH:SYM`, `iter/T`, …. Sections that need something only the caller knows
 * (`xdp` and `tc`/`tcx`: an interface; `cgroup/…`: a cgroup; sockmap and netns programs; a bare
 * `uprobe` or `kprobe`; `perf_event`) are left to `prog.attach(opts)`.
 */
export function sectionAttaches(section: string | undefined): boolean {
  if (!section) return false;
  const s = section.replace(/^\?/, '');
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) return false;
  const head = s.slice(0, slash);
  if (!SELF_ATTACHING.has(head)) return false;
  // uprobes need the binary and the symbol: uprobe/PATH:SYM; usdt the binary, provider and name
  if (head.startsWith('usdt')) return /^.+:[^:/]+:[^:/]+$/.test(s.slice(slash + 1));
  return !head.startsWith('uprobe') && !head.startsWith('uretprobe') ? true : s.slice(slash + 1).includes(':');
}
