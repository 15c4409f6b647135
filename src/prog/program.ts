/**
 * `BpfProgram`: a loaded BPF program that owns its fd (closed like a map's),
 * `loadProgram()` (BPF_PROG_LOAD, the verifier log on refusal) and
 * `testRun()` (BPF_PROG_TEST_RUN).
 */
import { BtfBuilder } from '../btf/build.js';
import { Btf, trimLog } from '../btf/load.js';
import { BpfError, errnoName, errnoNumber } from '../errors.js';
import { closeSync } from 'node:fs';
import { Cmd, cPath, getFdById, objGet, objGetInfo, objPin, progAttach, progLoad, progTestRun } from '../sys/bpf.js';
import { fdKind, release } from '../sys/fd.js';
import { OwnedFd } from '../sys/owned-fd.js';
import * as L from '../sys/layout.js';
import { type AttachType, BPF_F_TEST_RUN_ON_CPU, ProgType } from '../sys/uapi.js';
import { checkFd, checkInt, checkMapName, checkU32, describeValue } from '../validate.js';
import { Asm } from '../insn/asm.js';
import { loadEpermHint } from './eperm.js';
// Links (issue 17): the attach methods below call into src/link/.
import {
  attachCgroup as linkCgroup,
  attachIter as linkIter,
  attachKprobe as linkKprobe,
  attachNetns as linkNetns,
  attachPerfEvent as linkPerfEvent,
  attachRawTracepoint as linkRawTracepoint,
  attachSockmap as linkSockmap,
  attachTcx as linkTcx,
  attachTracepoint as linkTracepoint,
  attachTracing as linkTracing,
  attachUprobe as linkUprobe,
  attachXdp as linkXdp,
  type PerfEventOptions,
  type XdpMode,
} from '../link/attach.js';
import { resolveAttachBtfId } from '../link/target.js';
import { TRAMPOLINE_ATTACH, trampolineEpermHint } from '../link/hints.js';
import type { Link } from '../link/link.js';
import { type AttachOptions, attachBySection } from '../link/section.js';
import { attachUsdt as linkUsdt, type UsdtOptions } from '../link/usdt.js';

const LOG_SIZE = 1 << 22;

/** What `loadProgram` loads: BPF_PROG_LOAD's attributes. */
export interface LoadProgramOptions {
  /** The program type (`ProgType`); the kernel refuses types it does not know with EINVAL. */
  type: ProgType | number;
  /** An `Asm` (built here, so map fds are current) or encoded instructions (8 bytes each). */
  instructions: Asm | Uint8Array;
  /** Default `'GPL'` (GPL-only helpers need it). */
  license?: string;
  /** Up to 15 of `A-Za-z0-9_.`. */
  name?: string;
  /** `expected_attach_type` (an `AttachType`), for program types that need it at load time. @kernel 4.17 */
  expectedAttachType?: number;
  /** `BPF_F_*` program flags. */
  flags?: number;
  /** Verifier log level when asked for the log up front (1 or 2); by default the log is fetched only on refusal. */
  logLevel?: number;
  /**
   * Tracing programs (fentry/fexit/fmod_ret/tp_btf/lsm/iter): the kernel function, BTF tracepoint,
   * LSM hook or iterator target they attach to; its BTF id is looked up in the kernel's BTF (vmlinux).
   * @kernel 5.5
   */
  attachTo?: string;
  /** The target's BTF type id directly (instead of `attachTo`). @kernel 5.5 */
  attachBtfId?: number;
  /** The ELF section the program came from (`tracepoint/sched/sched_switch`, `xdp`, …): what `attach()` reads. */
  section?: string;
  /**
   * BTF for the program (`prog_btf_fd`): a loaded `Btf` or its fd. With `funcInfo`/`lineInfo`, the
   * verifier knows each function's prototype and shows source lines in its log. @kernel 5.0
   */
  btf?: Btf | number;
  /** `bpf_func_info` records (insn_off u32, FUNC type id u32), one per function, sorted by offset. Needs `btf`. */
  funcInfo?: Uint8Array;
  /** `bpf_line_info` records (insn_off, file_name_off, line_off, line_col: u32 each). Needs `btf` and `funcInfo`. */
  lineInfo?: Uint8Array;
  /** `kern_version` (old kprobe programs check it against the running kernel). */
  kernVersion?: number;
  /** `attach_btf_obj_fd`: the module BTF holding `attachBtfId` (omit for vmlinux). @kernel 5.11 */
  attachBtfObjFd?: number;
  /** `fd_array`: the fds that instructions refer to by index (module BTFs of kfunc calls). @kernel 5.13 */
  fdArray?: readonly number[];
}

/** What `loadProgram` remembers on the program for attaching it later (its section, expected attach type and tracing target). */
export interface LoadInfo {
  section: string | undefined;
  expectedAttachType: number | undefined;
  attachBtfId: number | undefined;
  attachTo: string | undefined;
}

/** Inputs of `BpfProgram.testRun` (BPF_PROG_TEST_RUN). @kernel 4.12 */
export interface TestRunOptions {
  /** Packet data handed to the program (socket filter, XDP, tc, …). */
  data?: Uint8Array;
  /** Room for the data the program leaves (default: as large as `data`). */
  dataOutSize?: number;
  /** Context in (raw tracepoint args, __sk_buff, …). @kernel 5.2 (ctx_in/ctx_out; raw tracepoints 5.10) */
  ctx?: Uint8Array;
  /** Room for the context out. */
  ctxOutSize?: number;
  /** Run the program this many times (duration is the mean). Default once. Raw tracepoint programs take no repeat. */
  repeat?: number;
  /** Run on this CPU (`BPF_F_TEST_RUN_ON_CPU`; raw tracepoint programs). @kernel 5.10 */
  cpu?: number;
}

/** What `BpfProgram.testRun` returns. */
export interface TestRunResult {
  /** The program's return value (R0). */
  retval: number;
  /** Mean nanoseconds per run, as the kernel measured. */
  duration: number;
  /** The data out, when there was data. */
  data?: Uint8Array;
  /** The context out, when asked for. */
  ctx?: Uint8Array;
}

const TOKEN: unique symbol = Symbol('BpfProgram');

/** A loaded BPF program (see `loadProgram`), owning its fd: `close()` it or use `using`. */
export class BpfProgram extends OwnedFd {
  protected readonly what = 'program';
  readonly type: number;
  readonly name: string;
  /** Kernel-wide id. */
  readonly id: number;
  /** The program's tag (hex), a hash of its instructions. */
  readonly tag: string;
  /** The ELF section given at load (`loadProgram({ section })`; objects pass each program's), which `attach()` reads. */
  readonly section: string | undefined;
  /** The expected attach type given at load, when this handle loaded it. */
  readonly expectedAttachType: number | undefined;
  /** The BTF id of the tracing target given or looked up at load. */
  readonly attachBtfId: number | undefined;
  /** The tracing target named at load (`attachTo`). */
  readonly attachTo: string | undefined;

  /** Not for direct use: see `loadProgram`, `BpfProgram.fromId`. */
  constructor(token: typeof TOKEN, fd: number, load?: LoadInfo) {
    if (token !== TOKEN) throw new TypeError('use loadProgram() or BpfProgram.fromId()');
    super(fd);
    this.section = load?.section;
    this.expectedAttachType = load?.expectedAttachType;
    this.attachBtfId = load?.attachBtfId;
    this.attachTo = load?.attachTo;
    const info = new Uint8Array(L.ProgInfoLayout.SIZE);
    const r = objGetInfo(fd, info);
    if (r.ret < 0) {
      this.close();
      throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r.ret);
    }
    const v = new DataView(info.buffer);
    this.type = v.getUint32(L.ProgInfoLayout.type, true);
    this.id = v.getUint32(L.ProgInfoLayout.id, true);
    this.tag = Buffer.from(info.subarray(L.ProgInfoLayout.tag, L.ProgInfoLayout.tag + 8)).toString('hex');
    const name = info.subarray(L.ProgInfoLayout.name, L.ProgInfoLayout.name + 16);
    const nul = name.indexOf(0);
    this.name = Buffer.from(nul < 0 ? name : name.subarray(0, nul)).toString('latin1');
  }

  /** Opens the program with kernel-wide id `id` (BPF_PROG_GET_FD_BY_ID). @kernel 4.13 */
  static fromId(id: number): BpfProgram {
    checkU32('id', id);
    const fd = getFdById(Cmd.BPF_PROG_GET_FD_BY_ID, id);
    if (fd < 0)
      throw new BpfError('BPF_PROG_GET_FD_BY_ID', -fd, {
        hint: errnoName(-fd) === 'ENOENT' ? `no program has id ${id}` : undefined,
      });
    return new BpfProgram(TOKEN, fd);
  }

  /**
   * Opens the program pinned at `path` (BPF_OBJ_GET), e.g. by `bpfmap prog load` or another process.
   * @throws {BpfError} ENOENT when nothing is pinned there; TypeError when the pin is not a program.
   * @kernel 4.4
   */
  static openPinned(path: string): BpfProgram {
    checkPinPath(path);
    const fd = objGet(cPath(path), 0);
    if (fd < 0)
      throw new BpfError('BPF_OBJ_GET', -fd, { hint: errnoName(-fd) === 'ENOENT' ? `nothing is pinned at ${path}` : undefined });
    const kind = fdKind(fd);
    if (kind !== 'bpf-prog') {
      release({}, fd);
      throw new TypeError(`${path} holds a ${kind ?? 'file'}, not a BPF program`);
    }
    return new BpfProgram(TOKEN, fd);
  }

  /**
   * Pins the program at `path` on a bpffs (BPF_OBJ_PIN): it stays loaded after this process exits,
   * until the pin is removed (`rm`, `unlinkSync`).
   * @throws {BpfError} EEXIST when the path exists, EPERM/EINVAL when not on a bpffs, ENOENT when its directory is missing.
   * @kernel 4.4
   */
  pin(path: string): void {
    const fd = this.liveFd('BPF_OBJ_PIN');
    checkPinPath(path);
    const r = objPin(fd, cPath(path));
    if (r < 0) {
      const name = errnoName(-r);
      throw new BpfError('BPF_OBJ_PIN', -r, {
        hint:
          name === 'EEXIST'
            ? `${path} exists`
            : name === 'EPERM' || name === 'EINVAL'
              ? `${path} must be on a bpffs (mount -t bpf bpf /sys/fs/bpf)`
              : name === 'ENOENT'
                ? `the directory of ${path} does not exist`
                : undefined,
      });
    }
  }

  /** @internal */
  static adopt(fd: number, load?: LoadInfo): BpfProgram {
    return new BpfProgram(TOKEN, fd, load);
  }

  /**
   * Attaches the program where its ELF section (`section`, given at load)
   * says: `tracepoint/G/N`, `tp/G/N`, `raw_tp/N`, `raw_tracepoint/N`,
   * `tp_btf/N`, `fentry/F`, `fexit/F`, `fmod_ret/F`, `lsm/H`, `kprobe/F`,
   * `kretprobe/F`, `ksyscall/S`, `uprobe/PATH:SYM`, `uretprobe/PATH:SYM`, `usdt/PATH:PROVIDER:NAME`,
   * `xdp`, `tc`, `tcx/ingress`, `tcx/egress`, `cgroup_skb/ingress|egress`,
   * `cgroup/…`, `sockops`, `sk_lookup`, `flow_dissector`, `sk_skb/…`,
   * `sk_msg`, `perf_event`, `iter/…`. `opts` fills what the section leaves
   * open (an interface, a binary, a pid, a cgroup, a map).
   * @throws {TypeError} without a section, or for one that does not say where to attach.
   */
  attach(opts: AttachOptions = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return attachBySection(this, this.section, opts);
  }

  /** Attaches a tracepoint program to tracepoint `group/name` (a perf event, perf link). @kernel 4.7 (perf links 5.15) */
  attachTracepoint(group: string, name: string): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkTracepoint(this, group, name);
  }

  /** Attaches a raw tracepoint program to raw tracepoint `name` (BPF_RAW_TRACEPOINT_OPEN). @kernel 4.17 */
  attachRawTracepoint(name: string): Link {
    this.liveFd('BPF_RAW_TRACEPOINT_OPEN');
    return linkRawTracepoint(this, name);
  }

  /** Attaches a fentry/fexit/fmod_ret/tp_btf/lsm program to the target given at load (`attachTo`). @kernel 5.5 */
  attachTracing(): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkTracing(this);
  }

  /**
   * Attaches a kprobe program to kernel function `symbol` (`retprobe`: its return).
   * @throws {KernelConfigError} naming CONFIG_KPROBES where the kernel has no kprobes.
   * @kernel 4.1
   */
  attachKprobe(symbol: string, opts: { retprobe?: boolean; offset?: number } = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkKprobe(this, symbol, opts);
  }

  /** Attaches a uprobe program to `symbolOrOffset` in ELF file `path` (`retprobe`: its return; `pid`: one process). @kernel 4.3 */
  attachUprobe(path: string, symbolOrOffset: string | number, opts: { retprobe?: boolean; pid?: number } = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkUprobe(this, path, symbolOrOffset, opts);
  }

  /**
   * Attaches a kprobe-type program built with usdt.bpf.h (`BPF_USDT(...)`) to every location of USDT
   * probe `provider:name` in ELF file `path` (`pid`: one process; `cookie`: what `bpf_usdt_cookie()`
   * returns). The program's object supplies the `__bpf_usdt_specs` map (or pass `maps`). One Link
   * holds every location; closing it detaches them and clears their specs.
   * @throws {UsdtError} for a file or probe that cannot be read or attached.
   * @kernel 5.15
   */
  attachUsdt(path: string, provider: string, name: string, opts: UsdtOptions = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkUsdt(this, path, provider, name, opts);
  }

  /** Attaches an XDP program to interface `iface` (a name or an index) with an XDP link. @kernel 5.9 */
  attachXdp(iface: string | number, opts: { mode?: XdpMode } = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkXdp(this, iface, opts);
  }

  /** Attaches a tc program to interface `iface` with a tcx link. @kernel 6.6 */
  attachTcx(iface: string | number, direction: 'ingress' | 'egress'): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkTcx(this, iface, direction);
  }

  /** Attaches an sk_lookup or flow_dissector program to a network namespace (default this process's). @kernel 5.8 */
  attachNetns(netns?: string | number): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkNetns(this, netns);
  }

  /** Attaches an sk_skb/sk_msg program to a sockmap or sockhash as `attachType`. @kernel 4.14 (links 6.10) */
  attachSockmap(map: { readonly fd: number }, attachType: AttachType | number): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkSockmap(this, map, attachType);
  }

  /** Attaches a perf_event program to a new perf event (default: software CPU clock, 1000 Hz, CPU 0). @kernel 4.9 */
  attachPerfEvent(opts: PerfEventOptions = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkPerfEvent(this, opts);
  }

  /** Creates an iterator link for an iter program (`map`: the map an iter/bpf_map_elem program walks); read it with `link.readIter()`. @kernel 5.8 */
  attachIter(opts: { map?: { readonly fd: number } } = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    return linkIter(this, opts);
  }

  /**
   * Attaches the program to a cgroup: `cgroup` is the cgroup's directory
   * (cgroup v2) or an open fd of it. A cgroup link where the kernel has them
   * (5.7+), else BPF_PROG_ATTACH (with `flags`); `close()` or `detach()` of
   * the returned link detaches it.
   * @throws {BpfError} EINVAL when the program's type does not fit `attachType`, EPERM without privilege.
   * @kernel 4.10 (links 5.7)
   */
  attachCgroup(cgroup: string | number, attachType: AttachType | number, opts: { flags?: number } = {}): Link {
    this.liveFd('BPF_LINK_CREATE');
    const type = checkU32('attachType', attachType);
    const flags = checkU32('flags', opts.flags ?? 0);
    return linkCgroup(this, cgroup, type, { flags });
  }

  /**
   * Runs the program once (or `repeat` times) in the kernel with the given
   * data/context (BPF_PROG_TEST_RUN).
   * @throws {BpfError} ENOTSUPP when this program type has no test run, EINVAL for inputs it refuses.
   * @kernel 4.12 (ctx 5.2, raw tracepoints and `cpu` 5.10)
   */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const fd = this.liveFd('BPF_PROG_TEST_RUN');
    if (typeof opts !== 'object' || opts === null)
      throw new TypeError(`testRun options must be an object, got ${describeValue(opts)}`);
    const data = bytesOrNull('data', opts.data);
    const ctx = bytesOrNull('ctx', opts.ctx);
    const dataOut = data
      ? new Uint8Array(checkInt('dataOutSize', opts.dataOutSize ?? Math.max(data.length, 256), 0, 1 << 30))
      : null;
    const ctxOut = opts.ctxOutSize ? new Uint8Array(checkInt('ctxOutSize', opts.ctxOutSize, 1, 1 << 20)) : null;
    const repeat = opts.repeat === undefined ? 0 : checkU32('repeat', opts.repeat); // 0: once (raw tracepoints refuse any other)
    const cpu = opts.cpu === undefined ? 0 : checkU32('cpu', opts.cpu);
    const r = progTestRun({
      progFd: fd,
      dataIn: data,
      dataOut,
      ctxIn: ctx,
      ctxOut,
      repeat,
      flags: opts.cpu === undefined ? 0 : BPF_F_TEST_RUN_ON_CPU,
      cpu,
    });
    if (r.ret < 0) {
      const code = -r.ret;
      const hint =
        errnoName(code) === 'ENOTSUPP' || errnoName(code) === 'EOPNOTSUPP'
          ? `program type ${ProgType[this.type] ?? this.type} has no test run in this kernel${opts.cpu !== undefined ? ', or cannot pick the CPU (raw tracepoint programs can)' : ''}`
          : errnoName(code) === 'EINVAL'
            ? 'the kernel refused the inputs: check data/ctx sizes for this program type (e.g. socket filters need at least 14 bytes of data; raw tracepoints take ctx, no data and no repeat)'
            : undefined;
      throw new BpfError('BPF_PROG_TEST_RUN', code, { hint });
    }
    const out: TestRunResult = { retval: r.retval, duration: r.duration };
    if (dataOut) out.data = dataOut.subarray(0, Math.min(r.dataSizeOut, dataOut.length));
    if (ctxOut) out.ctx = ctxOut.subarray(0, Math.min(r.ctxSizeOut, ctxOut.length));
    return out;
  }
}

/**
 * A program attached to a cgroup with BPF_PROG_ATTACH; `detach()` (or `close()`) undoes it.
 * @deprecated `attachCgroup` returns a `Link` now; kept for code that names the type.
 */
export class CgroupAttachment {
  readonly program: BpfProgram;
  readonly attachType: number;
  #cgFd: number;
  readonly #ownFd: boolean;

  constructor(program: BpfProgram, cgFd: number, ownFd: boolean, attachType: number) {
    this.program = program;
    this.#cgFd = cgFd;
    this.#ownFd = ownFd;
    this.attachType = attachType;
  }

  get attached(): boolean {
    return this.#cgFd >= 0;
  }

  /** Detaches the program (BPF_PROG_DETACH). Idempotent. */
  detach(): void {
    const fd = this.#cgFd;
    if (fd < 0) return;
    this.#cgFd = -1;
    const r = progAttach(true, fd, this.program.fd, this.attachType, 0);
    if (this.#ownFd) closeSync(fd);
    if (r < 0) throw new BpfError('BPF_PROG_DETACH', -r);
  }

  /** Same as `detach()`. @throws {BpfError} from BPF_PROG_DETACH, as `detach()`. */
  close(): void {
    this.detach();
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.detach();
  }
}

function bytesOrNull(what: string, v: unknown): Uint8Array | null {
  if (v === undefined || v === null) return null;
  if (!(v instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${describeValue(v)}`);
  return v.length === 0 ? null : v;
}

/**
 * Loads a program (BPF_PROG_LOAD).
 * @throws {AsmError} for programs the builder cannot encode.
 * @throws {BpfError} when the verifier refuses it; `err.log` holds the end of the verifier log.
 * @kernel 3.18 (each program type has its own: see `ProgType`)
 */
export function loadProgram(opts: LoadProgramOptions): BpfProgram {
  if (typeof opts !== 'object' || opts === null)
    throw new TypeError(`loadProgram takes an options object, got ${describeValue(opts)}`);
  const type = checkU32('type', opts.type);
  if (type === ProgType.Unspec) throw new RangeError('type must be a program type such as ProgType.SocketFilter');
  let insns: Uint8Array;
  let funcs: { name: string; insnOff: number }[] = [];
  if (opts.instructions instanceof Asm) {
    insns = opts.instructions.build();
    funcs = opts.instructions.functions();
  } else if (opts.instructions instanceof Uint8Array) {
    insns = opts.instructions;
    if (insns.length === 0 || insns.length % 8 !== 0)
      throw new RangeError(`instructions must be a non-empty multiple of 8 bytes, got ${insns.length}`);
  } else throw new TypeError(`instructions must be an Asm or a Uint8Array, got ${describeValue(opts.instructions)}`);
  const license = opts.license ?? 'GPL';
  if (typeof license !== 'string' || license.includes('\0')) throw new TypeError('license must be a string without NUL');
  const params = {
    progType: type,
    insns,
    license: new TextEncoder().encode(`${license}\0`),
    log: null as Uint8Array | null,
    logLevel: 0,
    progFlags: checkU32('flags', opts.flags ?? 0),
    name: checkMapName(opts.name, 'program name'),
    expectedAttachType: checkU32('expectedAttachType', opts.expectedAttachType ?? 0),
    kernVersion: 0,
    btfFd: 0,
    funcInfo: null as Uint8Array | null,
    attachBtfId: 0,
  };
  const section = opts.section;
  if (section !== undefined && (typeof section !== 'string' || section.includes('\0')))
    throw new TypeError('section must be a string without NUL');
  if (opts.attachTo !== undefined || opts.attachBtfId !== undefined)
    params.attachBtfId = resolveAttachBtfId(type, params.expectedAttachType, opts.attachTo, opts.attachBtfId);
  const load: LoadInfo = {
    section,
    expectedAttachType: opts.expectedAttachType === undefined ? undefined : params.expectedAttachType,
    attachBtfId: params.attachBtfId || undefined,
    attachTo: opts.attachTo,
  };
  // Subprograms: the kernel wants a BTF FUNC for each (callbacks require it), listed in func_info.
  let btf: Btf | undefined;
  if (funcs.length > 1) {
    const b = new BtfBuilder();
    const proto = b.funcProto(b.int('long', 8, { signed: true }));
    const info = new Uint8Array(8 * funcs.length);
    const iv = new DataView(info.buffer);
    funcs.forEach((f, i) => {
      const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name) ? f.name : `func_${i}`;
      iv.setUint32(8 * i, f.insnOff, true);
      iv.setUint32(8 * i + 4, b.func(name, proto), true);
    });
    btf = Btf.load(b.build());
    params.btfFd = btf.fd;
    params.funcInfo = info;
  }
  if (opts.logLevel !== undefined) {
    params.logLevel = checkInt('logLevel', opts.logLevel, 1, 2);
    params.log = new Uint8Array(LOG_SIZE);
  }
  const extra = objectLoadParams(opts, btf !== undefined);
  try {
    return loadWith(
      { ...params, ...extra, btfFd: extra.btfFd || params.btfFd, funcInfo: extra.funcInfo ?? params.funcInfo },
      load,
    );
  } finally {
    btf?.close(); // the program keeps its own reference
  }
}

/** The BTF, func/line info, attach and fd_array attributes an object's program brings, checked. */
function objectLoadParams(opts: LoadProgramOptions, asmBtf: boolean) {
  const out: {
    btfFd: number;
    funcInfo: Uint8Array | undefined;
    lineInfo: Uint8Array | null;
    kernVersion: number;
    attachBtfObjFd: number;
    fdArray: Uint8Array | null;
  } = {
    btfFd: 0,
    funcInfo: undefined,
    lineInfo: null,
    kernVersion: checkU32('kernVersion', opts.kernVersion ?? 0),
    attachBtfObjFd: opts.attachBtfObjFd === undefined ? 0 : checkFd('attachBtfObjFd', opts.attachBtfObjFd),
    fdArray: null,
  };
  if (opts.btf !== undefined) {
    if (asmBtf) throw new TypeError('btf cannot be given for an Asm with subprograms (loadProgram builds its BTF)');
    out.btfFd = opts.btf instanceof Btf ? opts.btf.liveFd('BPF_PROG_LOAD') : checkFd('btf', opts.btf);
  }
  const records = (what: string, v: unknown, size: number): Uint8Array | undefined => {
    if (v === undefined) return undefined;
    if (!(v instanceof Uint8Array) || v.length === 0 || v.length % size !== 0)
      throw new RangeError(`${what} must be a non-empty Uint8Array of ${size}-byte records, got ${describeValue(v)}`);
    if (opts.btf === undefined) throw new TypeError(`${what} needs btf`);
    return v.slice(); // copied: nothing the caller does later reaches the kernel
  };
  out.funcInfo = records('funcInfo', opts.funcInfo, 8);
  out.lineInfo = records('lineInfo', opts.lineInfo, 16) ?? null;
  if (out.lineInfo && !out.funcInfo) throw new TypeError('lineInfo needs funcInfo');
  if (opts.fdArray !== undefined) {
    if (!Array.isArray(opts.fdArray)) throw new TypeError(`fdArray must be an array of fds, got ${describeValue(opts.fdArray)}`);
    const a = new Uint8Array(4 * Math.max(1, opts.fdArray.length));
    const v = new DataView(a.buffer);
    opts.fdArray.forEach((fd, i) => {
      v.setUint32(4 * i, checkFd(`fdArray[${i}]`, fd), true);
    });
    out.fdArray = a;
  }
  return out;
}

/**
 * BPF_PROG_LOAD, again when it returns EAGAIN: the verifier gives up with EAGAIN when a signal
 * arrives while it works (a profiler's SIGPROF, a timer), as libbpf also retries.
 */
function progLoadRetrying(params: Parameters<typeof progLoad>[0]): number {
  let fd = progLoad(params);
  for (let tries = 0; fd === -errnoNumber('EAGAIN') && tries < 5; tries++) fd = progLoad(params);
  return fd;
}

/** BPF_PROG_LOAD with the log fetched on refusal. */
function loadWith(params: Parameters<typeof progLoad>[0], load?: LoadInfo): BpfProgram {
  let fd = progLoadRetrying(params);
  if (fd < 0 && params.log === null) {
    params.log = new Uint8Array(LOG_SIZE);
    params.logLevel = 1;
    const again = progLoadRetrying(params);
    if (again >= 0) fd = again;
    else fd = errnoName(-again) === 'ENOSPC' ? fd : again; // the log overflowed: keep the first errno
  }
  if (fd < 0) {
    // Only the part the kernel wrote (up to its NUL) is decoded, not the whole 4 MiB buffer.
    const end = params.log ? params.log.indexOf(0) : -1;
    const log = params.log
      ? trimLog(Buffer.from(params.log.buffer, params.log.byteOffset, end < 0 ? params.log.length : end).toString('utf8'), 20)
      : '';
    const code = -fd;
    const hint =
      errnoName(code) === 'EPERM'
        ? loadEpermHint(params.progType, log.length > 0) +
          (params.progType === ProgType.Ext ||
          ((params.progType === ProgType.Tracing || params.progType === ProgType.Lsm) &&
            TRAMPOLINE_ATTACH.has(params.expectedAttachType))
            ? `; ${trampolineEpermHint()}`
            : '')
        : errnoName(code) === 'EACCES' || errnoName(code) === 'EINVAL'
          ? 'the verifier refused the program; its log follows'
          : undefined;
    throw new BpfError('BPF_PROG_LOAD', code, { hint, log: log || undefined });
  }
  if (fdKind(fd) !== 'bpf-prog') {
    release({}, fd);
    throw new TypeError('BPF_PROG_LOAD returned an fd that is not a program');
  }
  return BpfProgram.adopt(fd, load);
}

function checkPinPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0'))
    throw new TypeError(`pin path must be a non-empty string without NUL, got ${describeValue(path)}`);
}
