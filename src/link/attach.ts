/**
 * Attaching a loaded program to each hook, returning a `Link`. One function
 * per hook; each checks the program type before any syscall, uses
 * BPF_LINK_CREATE where the kernel has it and the older mechanism where not,
 * and closes whatever it opened when a step fails (no half-made perf event or
 * link fd is left behind).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { BpfError, errnoName, errnoNumber } from '../errors.js';
import { closeFd, cPath, dupFd, progAttach } from '../sys/bpf.js';
import {
  linkCreate,
  PerfSw,
  PerfType,
  perfEventDisable,
  perfEventOpen,
  perfEventSetBpf,
  rawTracepointOpen,
} from '../sys/link.js';
import { AttachType, ProgType } from '../sys/uapi.js';
import { symbolFileOffset } from './elf-symbols.js';
import { KernelConfigError, kernelConfig } from './hints.js';
import { Link, type LinkInfo } from './link.js';
import { addProbeEvent, allEventNames, nearest, TracepointNotFoundError, tracepointId } from './tracefs.js';

/** What attaching needs of a program (a `BpfProgram` has all of it). */
export interface AttachableProgram {
  readonly fd: number;
  readonly type: number;
  readonly name: string;
  /** The expected attach type given at load, when known. */
  readonly expectedAttachType: number | undefined;
  /** The BTF id of the tracing target given at load, when known. */
  readonly attachBtfId: number | undefined;
  /** What `attachTo` named at load, when given. */
  readonly attachTo: string | undefined;
}

/** Attach types newer than the uapi header the constants were generated from. */
export const AttachTypeExt = {
  StructOps: 44,
  Netfilter: 45,
  TcxIngress: 46,
  TcxEgress: 47,
  TraceUprobeMulti: 48,
} as const;

/** XDP attach modes (XDP_FLAGS_*). */
export const XDP_MODES = { generic: 1 << 1, driver: 1 << 2, offload: 1 << 3 } as const;
/** An XDP attach mode. */
export type XdpMode = keyof typeof XDP_MODES;

const typeName = (t: number) => ProgType[t] ?? `type ${t}`;

/** TypeError unless the program's type is one of `types`. */
function needType(p: AttachableProgram, hook: string, types: readonly number[]): number {
  const fd = p.fd;
  if (typeof fd !== 'number' || fd < 0)
    throw new BpfError('BPF_LINK_CREATE', errnoNumber('EBADF'), { hint: `the program${p.name ? ` "${p.name}"` : ''} is closed` });
  if (!types.includes(p.type))
    throw new TypeError(
      `${hook} takes ${types.map(typeName).join(' or ')} programs; program${p.name ? ` "${p.name}"` : ''} is ${typeName(p.type)}`,
    );
  return fd;
}

let progAttachOnly = false;

/** @internal Tests: `true` makes cgroup and sockmap attaches take the pre-link path (BPF_PROG_ATTACH). */
export function setProgAttachOnly(on: boolean): void {
  progAttachOnly = on;
}

/** A BpfError for a failed link creation, with what was asked. */
function linkError(command: string, errno: number, what: string, extra?: string): BpfError {
  const hints: Record<number, string> = {
    1: 'needs root (CAP_BPF/CAP_NET_ADMIN/CAP_PERFMON)',
    16: 'something is already attached there in exclusive mode',
    17: 'a program is already attached there',
    22: 'the kernel refused the combination (program type/expected attach type vs hook)',
    95: 'this kernel or device does not support it',
    524: 'this kernel or device does not support it',
  };
  return new BpfError(command, errno, { hint: [what, extra ?? hints[errno]].filter(Boolean).join(': ') });
}

/** BPF_LINK_CREATE, with the common error. */
function create(p: Parameters<typeof linkCreate>[0], what: string, cleanup?: () => void): Link {
  const fd = linkCreate(p);
  if (fd < 0) {
    cleanup?.();
    throw linkError('BPF_LINK_CREATE', -fd, what);
  }
  return Link.adopt(fd, cleanup);
}

// ---- perf events: tracepoints, probes, software events -----------------------------------------

let perfMode: 'auto' | 'ioctl' = 'auto';

/** @internal Tests: `'ioctl'` makes perf-event attaches take the pre-5.15 path (PERF_EVENT_IOC_SET_BPF). */
export function setPerfAttachMode(mode: 'auto' | 'ioctl'): void {
  perfMode = mode;
}

function progIdOf(progFd: number): number {
  try {
    return Number(/^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${progFd}`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Attaches `progFd` to the open perf event `pfd`: a perf link (5.15+), which
 * keeps the event alive (our fd is closed), else PERF_EVENT_IOC_SET_BPF and
 * IOC_ENABLE on the event, which the returned Link then holds open.
 */
function perfLink(
  progFd: number,
  pfd: number,
  what: string,
  cleanup?: () => void,
  info: Partial<LinkInfo> = {},
  cookie?: bigint,
): Link {
  let errno = 22;
  if (perfMode === 'auto') {
    const fd = linkCreate({
      progFd,
      target: pfd,
      attachType: AttachType.PerfEvent,
      flags: 0,
      ...(cookie === undefined ? {} : { cookie }),
    });
    if (fd >= 0) {
      closeFd(pfd); // the link holds its own reference to the event
      return Link.adopt(fd, cleanup);
    }
    errno = -fd;
  }
  if (errnoName(errno) === 'EINVAL' && cookie !== undefined) {
    closeFd(pfd);
    cleanup?.();
    throw linkError('BPF_LINK_CREATE', errno, what, 'a BPF cookie needs a perf link (5.15+); the ioctl fallback has none');
  }
  if (errnoName(errno) === 'EINVAL') {
    // Before 5.15 (or forced): the program goes onto the event itself.
    const r = perfEventSetBpf(pfd, progFd);
    if (r >= 0) {
      const progId = progIdOf(progFd);
      return Link.legacy(
        pfd,
        {
          mechanism: 'perf_event ioctl',
          detach() {
            perfEventDisable(pfd); // the Link closes the fd next, which detaches the program
          },
          info: (): LinkInfo => ({ type: 'perf_event', typeId: 0, id: 0, progId, mechanism: 'perf_event ioctl', ...info }),
        },
        cleanup,
      );
    }
    if (perfMode === 'ioctl') errno = -r;
  }
  closeFd(pfd);
  cleanup?.();
  throw linkError(
    perfMode === 'ioctl' ? 'PERF_EVENT_IOC_SET_BPF' : 'BPF_LINK_CREATE',
    errno,
    what,
    errnoName(errno) === 'EINVAL' ? 'the program type does not fit this event' : undefined,
  );
}

function openPerf(
  type: number,
  config: bigint,
  pid: number,
  cpu: number,
  what: string,
  opts: { sample?: bigint; freq?: boolean; name?: Uint8Array; config2?: bigint } = {},
): number {
  const pfd = perfEventOpen({ type, config, pid, cpu, ...opts });
  if (pfd < 0) {
    const errno = -pfd;
    throw new BpfError('perf_event_open', errno, {
      hint: `${what}${errnoName(errno) === 'ESRCH' ? `: no process ${pid}` : errnoName(errno) === 'ENOENT' ? ': the event does not exist' : errnoName(errno) === 'EACCES' || errnoName(errno) === 'EPERM' ? ': needs root or CAP_PERFMON' : ''}`,
    });
  }
  return pfd;
}

/**
 * Attaches a tracepoint program to tracepoint `group/name` (tracefs
 * `events/group/name/id`, perf_event_open PERF_TYPE_TRACEPOINT, perf link).
 * @kernel 4.7 (perf links 5.15)
 */
export function attachTracepoint(p: AttachableProgram, group: string, name: string): Link {
  const progFd = needType(p, 'attachTracepoint', [ProgType.Tracepoint]);
  checkName('tracepoint group', group);
  checkName('tracepoint name', name);
  const id = tracepointId(group, name);
  const pfd = openPerf(PerfType.Tracepoint, BigInt(id), -1, 0, `tracepoint ${group}/${name}`);
  return perfLink(progFd, pfd, `tracepoint ${group}/${name}`, undefined, { perfEventType: 'tracepoint', tpName: name });
}

/**
 * Attaches a raw tracepoint program to `name` (BPF_RAW_TRACEPOINT_OPEN).
 * @kernel 4.17
 */
export function attachRawTracepoint(p: AttachableProgram, name: string): Link {
  const progFd = needType(p, 'attachRawTracepoint', [ProgType.RawTracepoint, ProgType.RawTracepointWritable]);
  checkName('raw tracepoint name', name);
  const fd = rawTracepointOpen(progFd, cPath(name));
  if (fd < 0) {
    if (errnoName(-fd) === 'ENOENT')
      throw new TracepointNotFoundError(
        name,
        `BPF_RAW_TRACEPOINT_OPEN: ENOENT (no raw tracepoint "${name}"; nearest: ${nearest(name, [...new Set(allEventNames())]).join(', ')})`,
      );
    throw linkError('BPF_RAW_TRACEPOINT_OPEN', -fd, `raw tracepoint ${name}`);
  }
  return Link.adopt(fd);
}

/**
 * Attaches a tracing program (fentry/fexit/fmod_ret/tp_btf, or lsm, or
 * freplace) to the target it was loaded for (BPF_LINK_CREATE, or
 * BPF_RAW_TRACEPOINT_OPEN on kernels before 5.13... which also take it).
 * @kernel 5.5 (lsm 5.7)
 */
export function attachTracing(p: AttachableProgram): Link {
  const progFd = needType(p, 'attachTracing', [ProgType.Tracing, ProgType.Lsm, ProgType.Ext]);
  const eat = p.expectedAttachType;
  if (eat === AttachType.TraceIter) throw new TypeError('iterator programs attach with attachIter()');
  const what = `${AttachType[eat ?? -1] ?? 'tracing'} ${p.attachTo ?? (p.attachBtfId ? `btf id ${p.attachBtfId}` : '')}`.trim();
  if (eat !== undefined && p.type !== ProgType.Ext) {
    const fd = linkCreate({ progFd, target: 0, attachType: eat, flags: 0 });
    if (fd >= 0) return Link.adopt(fd);
    if (errnoName(-fd) !== 'EINVAL') throw linkError('BPF_LINK_CREATE', -fd, what);
  }
  const fd = rawTracepointOpen(progFd, null);
  if (fd < 0) throw linkError('BPF_RAW_TRACEPOINT_OPEN', -fd, what);
  return Link.adopt(fd);
}

let probeMode: 'auto' | 'tracefs' = 'auto';

/** @internal Tests: `'tracefs'` makes uprobe/kprobe attaches take the fallback path (tracefs probe events) even where the PMU exists. */
export function setProbeMode(mode: 'auto' | 'tracefs'): void {
  probeMode = mode;
}

/**
 * The dynamic perf PMU `kind` (4.17+): its perf type and the config bit that
 * makes a probe a return probe, from /sys/bus/event_source/devices/KIND; null
 * when it is absent (or forced off), and then the tracefs probe events serve.
 */
function probePmu(kind: 'uprobe' | 'kprobe'): { type: number; retprobeBit: number } | null {
  if (probeMode === 'tracefs') return null;
  const dir = `/sys/bus/event_source/devices/${kind}`;
  try {
    const type = Number.parseInt(readFileSync(`${dir}/type`, 'utf8'), 10);
    const bit = /^config:(\d+)\s*$/.exec(readFileSync(`${dir}/format/retprobe`, 'utf8'));
    if (!Number.isInteger(type) || type < 0 || !bit || Number(bit[1]) > 63) return null;
    return { type, retprobeBit: Number(bit[1]) };
  } catch {
    return null;
  }
}

/** The kernel's syscall entry symbol for syscall `name` on this architecture (`__x64_sys_NAME`, …). */
export function syscallSymbol(name: string): string {
  const prefix =
    arch() === 'x64' ? '__x64_sys_' : arch() === 'arm64' ? '__arm64_sys_' : arch() === 's390x' ? '__s390x_sys_' : 'sys_';
  return `${prefix}${name}`;
}

function requireKprobes(hook: string): void {
  const cfg = kernelConfig('CONFIG_KPROBES');
  if (cfg === 'n' || !existsSync('/sys/kernel/tracing/kprobe_events'))
    throw new KernelConfigError(
      'perf_event_open',
      2,
      hook,
      'CONFIG_KPROBES',
      `there is no kprobe PMU (/sys/bus/event_source/devices/kprobe) and no tracefs kprobe_events${cfg === 'n' ? ' (/proc/config.gz: "# CONFIG_KPROBES is not set")' : ''}; rebuild the kernel with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y, or attach to a tracepoint or raw tracepoint instead`,
    );
}

/**
 * Attaches a kprobe program to kernel function `symbol` (+`offset`), or to
 * its return with `retprobe`: a kprobe PMU perf event (4.17+; nothing left in
 * tracefs), else a tracefs kprobe event opened as a tracepoint; then a perf
 * link.
 * @throws {KernelConfigError} naming CONFIG_KPROBES on kernels without kprobes.
 * @kernel 4.1
 */
export function attachKprobe(p: AttachableProgram, symbol: string, opts: { retprobe?: boolean; offset?: number } = {}): Link {
  const progFd = needType(p, 'attachKprobe', [ProgType.Kprobe]);
  checkName('kernel symbol', symbol);
  const retprobe = opts.retprobe === true;
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  const what = `${retprobe ? 'kretprobe' : 'kprobe'} ${symbol}`;
  const pmu = probePmu('kprobe');
  if (pmu) {
    const config = retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n;
    const pfd = openPerf(pmu.type, config, -1, 0, what, { name: cPath(symbol), config2: BigInt(offset) });
    return perfLink(progFd, pfd, what, undefined, { perfEventType: retprobe ? 'kretprobe' : 'kprobe', funcName: symbol, offset });
  }
  requireKprobes(retprobe ? 'kretprobe' : 'kprobe');
  const ev = addProbeEvent('kprobe', retprobe, offset ? `${symbol}+${offset}` : symbol);
  let pfd: number;
  try {
    pfd = openPerf(PerfType.Tracepoint, BigInt(ev.id), -1, 0, `kprobe ${symbol}`);
  } catch (e) {
    ev.remove();
    throw e;
  }
  return perfLink(progFd, pfd, what, ev.remove);
}

/**
 * Attaches a uprobe program at `symbolOrOffset` (a function name resolved
 * in the file's .symtab/.dynsym, or a file offset) in the ELF file `path`,
 * or at its return with `retprobe`; `pid` limits it to one process. Programs
 * loaded with expected attach type BPF_TRACE_UPROBE_MULTI (48) get an
 * uprobe_multi link (6.6+), others an uprobe PMU perf event (4.17+) with a
 * perf link; only where the PMU is missing a tracefs uprobe event (global
 * kernel state, removed again on close) stands in for it.
 * @kernel 4.3 (uprobe_multi 6.6)
 */
export function attachUprobe(
  p: AttachableProgram,
  path: string,
  symbolOrOffset: string | number,
  opts: { retprobe?: boolean; pid?: number } = {},
): Link {
  const progFd = needType(p, 'attachUprobe', [ProgType.Kprobe]);
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0'))
    throw new TypeError(`uprobe binary must be a non-empty path without NUL, got ${JSON.stringify(path)}`);
  if (!existsSync(path)) throw new TypeError(`uprobe binary ${path} does not exist`);
  const retprobe = opts.retprobe === true;
  const pid = opts.pid ?? -1;
  if (!Number.isInteger(pid) || pid < -1 || pid > 0x3fffffff) throw new RangeError(`pid must be a process id, got ${pid}`);
  if (pid > 0 && !existsSync(`/proc/${pid}`)) throw new RangeError(`no process ${pid}`);
  let offset: number;
  if (typeof symbolOrOffset === 'number') {
    if (!Number.isInteger(symbolOrOffset) || symbolOrOffset < 0)
      throw new RangeError(`uprobe offset must be a non-negative integer, got ${symbolOrOffset}`);
    offset = symbolOrOffset;
  } else {
    checkName('symbol', symbolOrOffset);
    offset = symbolFileOffset(path, symbolOrOffset);
  }
  const what = `${retprobe ? 'uretprobe' : 'uprobe'} ${path}:${typeof symbolOrOffset === 'string' ? symbolOrOffset : `0x${offset.toString(16)}`}`;
  if (p.expectedAttachType === AttachTypeExt.TraceUprobeMulti) {
    const offsets = new Uint8Array(8);
    new DataView(offsets.buffer).setBigUint64(0, BigInt(offset), true);
    return create(
      {
        progFd,
        target: 0,
        attachType: AttachTypeExt.TraceUprobeMulti,
        flags: 0,
        uprobeMulti: { path: cPath(path), offsets, count: 1, flags: retprobe ? 1 : 0, pid: Math.max(pid, 0) },
      },
      what,
    );
  }
  const info = { perfEventType: retprobe ? 'uretprobe' : 'uprobe', fileName: path, offset } as const;
  const cpu = pid > 0 ? -1 : 0; // a pid: wherever it runs; all processes: one event on CPU 0 (the program runs on every CPU)
  const pmu = probePmu('uprobe');
  if (pmu) {
    const config = retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n;
    const pfd = openPerf(pmu.type, config, pid, cpu, what, { name: cPath(path), config2: BigInt(offset) });
    return perfLink(progFd, pfd, what, undefined, info);
  }
  if (/\s/.test(path))
    throw new TypeError(`without the uprobe PMU, the uprobe binary's path cannot hold spaces: ${JSON.stringify(path)}`);
  const ev = addProbeEvent('uprobe', retprobe, `${path}:0x${offset.toString(16)}`);
  let pfd: number;
  try {
    pfd = openPerf(PerfType.Tracepoint, BigInt(ev.id), pid, cpu, what);
  } catch (e) {
    ev.remove();
    throw e;
  }
  return perfLink(progFd, pfd, what, ev.remove, info);
}

/**
 * One uprobe PMU event at file offset `offset` of `path` with a perf link
 * carrying BPF cookie `cookie`; `refCtrOffset` (non-zero) is the file offset
 * of a USDT semaphore the kernel increments while the probe is attached
 * (config bits 32-63, `ref_ctr_offset`). For USDT attaches (usdt.ts).
 * @kernel 5.15 (perf link cookies; ref_ctr_offset 4.20)
 */
export function attachUprobeAt(
  p: AttachableProgram,
  path: string,
  offset: number,
  opts: { pid: number; refCtrOffset: number; cookie: bigint; what: string },
): Link {
  const progFd = needType(p, 'attachUsdt', [ProgType.Kprobe]);
  const pmu = probePmu('uprobe');
  if (!pmu)
    throw new BpfError('perf_event_open', errnoNumber('EOPNOTSUPP'), {
      hint: `${opts.what}: USDT probes need the uprobe PMU (/sys/bus/event_source/devices/uprobe, 4.17+)`,
    });
  if (opts.refCtrOffset > 0xffff_ffff)
    throw new RangeError(`${opts.what}: the semaphore's file offset does not fit ref_ctr_offset (32 bits)`);
  let config = 0n;
  if (opts.refCtrOffset !== 0) {
    let f = '';
    try {
      f = readFileSync('/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset', 'utf8');
    } catch {}
    const m = /^config:(\d+)-63\s*$/.exec(f);
    if (!m)
      throw new BpfError('perf_event_open', errnoNumber('EOPNOTSUPP'), {
        hint: `${opts.what}: the probe has a semaphore and this kernel's uprobe PMU has no ref_ctr_offset (4.20+)`,
      });
    config = BigInt(opts.refCtrOffset) << BigInt(m[1] as string);
  }
  const cpu = opts.pid > 0 ? -1 : 0;
  const pfd = openPerf(pmu.type, config, opts.pid, cpu, opts.what, { name: cPath(path), config2: BigInt(offset) });
  return perfLink(progFd, pfd, opts.what, undefined, { perfEventType: 'uprobe', fileName: path, offset }, opts.cookie);
}

/** What `attachPerfEvent` opens: a software event (default the CPU clock) on one CPU and/or process. */
export interface PerfEventOptions {
  /** PERF_TYPE_* (default software, 1). */
  type?: number;
  /** The event (default PERF_COUNT_SW_CPU_CLOCK, 0). */
  config?: number | bigint;
  /** Samples per second (default 1000 unless `period` is given). */
  frequency?: number;
  /** One sample every `period` events instead. */
  period?: number | bigint;
  /** The CPU (default 0; -1 with a pid: wherever the process runs). */
  cpu?: number;
  /** The process (default -1: every process on the CPU). */
  pid?: number;
}

/**
 * Attaches a perf_event program to a new perf event (by default the software
 * CPU clock sampled 1000 times a second on CPU 0) with a perf link.
 * @kernel 4.9 (perf links 5.15)
 */
export function attachPerfEvent(p: AttachableProgram, opts: PerfEventOptions = {}): Link {
  const progFd = needType(p, 'attachPerfEvent', [ProgType.PerfEvent]);
  const cpu = opts.cpu ?? 0;
  const pid = opts.pid ?? -1;
  if (!Number.isInteger(cpu) || cpu < -1) throw new RangeError(`cpu must be a CPU number, got ${cpu}`);
  if (!Number.isInteger(pid) || pid < -1) throw new RangeError(`pid must be a process id or -1, got ${pid}`);
  const freq = opts.period === undefined;
  const sample = freq ? BigInt(opts.frequency ?? 1000) : BigInt(opts.period as number | bigint);
  const pfd = openPerf(opts.type ?? PerfType.Software, BigInt(opts.config ?? PerfSw.CpuClock), pid, cpu, 'perf event', {
    sample,
    freq,
  });
  return perfLink(progFd, pfd, 'perf event', undefined, {
    perfEventType: 'event',
    config: BigInt(opts.config ?? PerfSw.CpuClock),
  });
}

// ---- networking -------------------------------------------------------------------------------

/** The ifindex of interface `iface` (a name or an index), or a TypeError listing the interfaces. */
export function ifindexOf(iface: string | number): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface < 1) throw new RangeError(`interface index must be a positive integer, got ${iface}`);
    return iface;
  }
  if (typeof iface !== 'string' || iface.length === 0 || iface.length > 15 || /[/\s\0]/.test(iface))
    throw new TypeError(`interface must be a name (up to 15 characters) or an index, got ${JSON.stringify(iface)}`);
  try {
    return Number.parseInt(readFileSync(`/sys/class/net/${iface}/ifindex`, 'utf8'), 10);
  } catch {
    let names: string[] = [];
    try {
      names = readdirSync('/sys/class/net');
    } catch {}
    throw new TypeError(`no network interface "${iface}" in this network namespace; it has: ${names.join(', ') || 'none'}`);
  }
}

/**
 * Attaches an XDP program to interface `iface` (BPF_LINK_CREATE with the
 * ifindex); `mode` `'generic'`, `'driver'` or `'offload'` (default: the
 * kernel picks, driver when the driver has XDP).
 * @kernel 5.9 (XDP links)
 */
export function attachXdp(p: AttachableProgram, iface: string | number, opts: { mode?: XdpMode } = {}): Link {
  const progFd = needType(p, 'attachXdp', [ProgType.Xdp]);
  const mode = opts.mode;
  if (mode !== undefined && !Object.hasOwn(XDP_MODES, mode))
    throw new TypeError(`XDP mode must be one of ${Object.keys(XDP_MODES).join(', ')}, got ${JSON.stringify(mode)}`);
  const ifindex = ifindexOf(iface);
  return create(
    { progFd, target: ifindex, attachType: AttachType.Xdp, flags: mode ? XDP_MODES[mode] : 0 },
    `XDP on ${iface}${mode ? ` (${mode})` : ''}`,
  );
}

/**
 * Attaches a tc (sched_cls) program to interface `iface` in direction
 * `direction` with a tcx link.
 * @kernel 6.6
 */
export function attachTcx(p: AttachableProgram, iface: string | number, direction: 'ingress' | 'egress'): Link {
  const progFd = needType(p, 'attachTcx', [ProgType.SchedCls, ProgType.SchedAct]);
  if (direction !== 'ingress' && direction !== 'egress')
    throw new TypeError(`tcx direction must be 'ingress' or 'egress', got ${JSON.stringify(direction)}`);
  const ifindex = ifindexOf(iface);
  const attachType = direction === 'ingress' ? AttachTypeExt.TcxIngress : AttachTypeExt.TcxEgress;
  return create({ progFd, target: ifindex, attachType, flags: 0 }, `tcx ${direction} on ${iface}`);
}

function openDir(what: string, path: string | number): { fd: number; own: boolean } {
  if (typeof path === 'number') {
    if (!Number.isInteger(path) || path < 0) throw new RangeError(`${what} fd must be a non-negative integer, got ${path}`);
    return { fd: path, own: false };
  }
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`${what} must be a path or an fd`);
  try {
    return { fd: openSync(path, 'r'), own: true };
  } catch (e) {
    throw new TypeError(`cannot open the ${what} ${path}: ${(e as Error).message}`);
  }
}

/**
 * Attaches a cgroup program (`cgroup_skb`, `cgroup/sock_create`, `sockops`,
 * `cgroup/connect4`, …) to the cgroup v2 directory (or fd) `cgroup` as
 * `attachType`: a cgroup link (5.7+), else BPF_PROG_ATTACH with `flags`.
 * @kernel 4.10 (links 5.7)
 */
export function attachCgroup(
  p: AttachableProgram,
  cgroup: string | number,
  attachType: number,
  opts: { flags?: number } = {},
): Link {
  const progFd = p.fd;
  if (typeof progFd !== 'number' || progFd < 0)
    throw new BpfError('BPF_LINK_CREATE', errnoNumber('EBADF'), { hint: 'the program is closed' });
  if (!Number.isInteger(attachType) || attachType < 0)
    throw new RangeError(`attachType must be an AttachType, got ${attachType}`);
  const flags = opts.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0) throw new RangeError(`flags must be a u32, got ${flags}`);
  const dir = openDir('cgroup directory', cgroup);
  const what = `${AttachType[attachType] ?? attachType} on cgroup ${cgroup}`;
  try {
    const fd = progAttachOnly ? -22 : linkCreate({ progFd, target: dir.fd, attachType, flags: 0 });
    if (fd >= 0) return Link.adopt(fd);
    if (errnoName(-fd) !== 'EINVAL' && errnoName(-fd) !== 'EOPNOTSUPP' && errnoName(-fd) !== 'ENOTSUPP')
      throw linkError('BPF_LINK_CREATE', -fd, what, errnoName(-fd) === 'EBADF' ? 'the cgroup fd is not open' : undefined);
    // Older kernels (or attach types without links): BPF_PROG_ATTACH, which holds the cgroup fd.
    const r = progAttach(false, dir.fd, progFd, attachType, flags);
    if (r < 0)
      throw linkError(
        'BPF_PROG_ATTACH',
        -r,
        what,
        errnoName(-r) === 'EINVAL'
          ? `the program (type ${typeName(p.type)}) cannot attach as ${AttachType[attachType] ?? attachType}: load it with a matching expectedAttachType`
          : undefined,
      );
    return progAttachLink(p, dir, attachType, what);
  } finally {
    if (dir.own) {
      // links and BPF_PROG_ATTACH hold the cgroup themselves; progAttachLink dups what it needs
      closeSync(dir.fd);
    }
  }
}

/** A Link over a BPF_PROG_ATTACH attachment (detached with BPF_PROG_DETACH on close). */
function progAttachLink(p: AttachableProgram, dir: { fd: number; own: boolean }, attachType: number, what: string): Link {
  const target = dupFd(dir.fd);
  if (target < 0) throw new BpfError('BPF_PROG_ATTACH', -target, { hint: 'cannot hold the target fd' });
  const progFd = dupFd(p.fd); // BPF_PROG_DETACH names the program: hold it even if the caller closes theirs
  if (progFd < 0) {
    closeFd(target);
    throw new BpfError('BPF_PROG_ATTACH', -progFd, { hint: 'cannot hold the program fd' });
  }
  const progId = progIdOf(progFd);
  return Link.legacy(-1, {
    mechanism: 'prog_attach',
    detach() {
      const r = progAttach(true, target, progFd, attachType, 0);
      closeFd(target);
      closeFd(progFd);
      if (r < 0) throw linkError('BPF_PROG_DETACH', -r, what);
    },
    info(): LinkInfo {
      return { type: 'prog_attach', typeId: 0, id: 0, progId, mechanism: 'prog_attach', attachType };
    },
  });
}

/**
 * Attaches an sk_lookup or flow_dissector program to a network namespace
 * (default this process's, `/proc/self/ns/net`) with a netns link.
 * @kernel 5.8 (flow_dissector links), 5.9 (sk_lookup)
 */
export function attachNetns(p: AttachableProgram, netns: string | number = '/proc/self/ns/net'): Link {
  const progFd = needType(p, 'attachNetns', [ProgType.SkLookup, ProgType.FlowDissector]);
  const attachType = p.type === ProgType.SkLookup ? AttachType.SkLookup : AttachType.FlowDissector;
  const ns = openDir('network namespace', netns);
  try {
    return create({ progFd, target: ns.fd, attachType, flags: 0 }, `${AttachType[attachType]} on netns ${netns}`);
  } finally {
    if (ns.own) closeSync(ns.fd);
  }
}

/**
 * Attaches an sk_skb or sk_msg program to a sockmap/sockhash as
 * `attachType` (SkSkbStreamParser, SkSkbStreamVerdict, SkSkbVerdict,
 * SkMsgVerdict): a sockmap link (6.10+), else BPF_PROG_ATTACH.
 * @kernel 4.14 (links 6.10)
 */
export function attachSockmap(p: AttachableProgram, map: { readonly fd: number }, attachType: number): Link {
  const progFd = needType(p, 'attachSockmap', [ProgType.SkSkb, ProgType.SkMsg]);
  const mapFd = map?.fd;
  if (typeof mapFd !== 'number' || mapFd < 0)
    throw new BpfError('BPF_LINK_CREATE', errnoNumber('EBADF'), { hint: 'the map is closed' });
  const what = `${AttachType[attachType] ?? attachType} on map fd ${mapFd}`;
  const fd = progAttachOnly ? -22 : linkCreate({ progFd, target: mapFd, attachType, flags: 0 });
  if (fd >= 0) return Link.adopt(fd);
  if (errnoName(-fd) !== 'EINVAL') throw linkError('BPF_LINK_CREATE', -fd, what);
  const r = progAttach(false, mapFd, progFd, attachType, 0);
  if (r < 0) throw linkError('BPF_PROG_ATTACH', -r, what);
  return progAttachLink(p, { fd: mapFd, own: false }, attachType, what);
}

/**
 * Creates an iterator link for an iter program (`iter/task`,
 * `iter/bpf_map_elem` with `map`, …); read its output with
 * `link.readIter()`.
 * @kernel 5.8
 */
export function attachIter(p: AttachableProgram, opts: { map?: { readonly fd: number } } = {}): Link {
  const progFd = needType(p, 'attachIter', [ProgType.Tracing]);
  if (p.expectedAttachType !== undefined && p.expectedAttachType !== AttachType.TraceIter)
    throw new TypeError('attachIter takes a program loaded with expectedAttachType AttachType.TraceIter');
  let iterInfo: Uint8Array | null = null;
  if (opts.map !== undefined) {
    const mapFd = opts.map?.fd;
    if (typeof mapFd !== 'number' || mapFd < 0)
      throw new BpfError('BPF_LINK_CREATE', errnoNumber('EBADF'), { hint: 'the map is closed' });
    iterInfo = new Uint8Array(8);
    new DataView(iterInfo.buffer).setUint32(0, mapFd, true); // union bpf_iter_link_info { struct { __u32 map_fd; } map; }
  }
  const what = `iterator ${p.attachTo ?? ''}`.trim();
  return create({ progFd, target: 0, attachType: AttachType.TraceIter, flags: 0, iterInfo }, what);
}

function checkName(what: string, v: unknown): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > 255 || /[\s/\0:]/.test(v))
    throw new TypeError(`${what} must be a non-empty name without spaces, '/' or ':', got ${JSON.stringify(v)}`);
}
