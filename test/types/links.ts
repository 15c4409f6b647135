// Type-level checks of the link API (compiled by `npm run typecheck`, never run).
import {
  AttachType,
  type AttachOptions,
  type BpfProgram,
  KernelConfigError,
  Link,
  type LinkInfo,
  type LinkMechanism,
  listLinkIds,
  readUsdtNotes,
  type UsdtNote,
  UsdtError,
  type UsdtOptions,
} from 'bpfmap';

declare const prog: BpfProgram;
const link: Link = prog.attach({ iface: 'eth0', mode: 'generic' });
const info: LinkInfo = link.info();
const mech: LinkMechanism = info.mechanism;
const tp: string | undefined = info.tpName;
const ifindex: number | undefined = info.ifindex;
link.pin('/sys/fs/bpf/x');
link.update(prog);
link.detach();
const again: Link = Link.openPinned('/sys/fs/bpf/x');
const byId: Link = Link.fromId(3);
const bytes: Uint8Array = again.readIter();
const text: string = byId.readIterText();
const links: number[] = listLinkIds();
prog.attachTracepoint('syscalls', 'sys_enter_getppid').close();
prog.attachUprobe('/bin/true', 'main', { retprobe: true, pid: 1 })[Symbol.dispose]();
prog.attachTcx(1, 'egress');
const usdtOpts: UsdtOptions = { pid: 1, cookie: 7n };
const usdt: Link = prog.attachUsdt('/usr/bin/python3', 'python', 'function__entry', usdtOpts);
const locations: number | undefined = usdt.info().count;
const note: UsdtNote | undefined = readUsdtNotes('/usr/bin/python3').notes[0];
const sema: bigint | undefined = note?.sema;
const usdtErr: string = new UsdtError('/x', 'no probe').path;
const usdtSection: AttachOptions = { binary: '/x', provider: 'p', probe: 'n', usdtCookie: 1 };
// @ts-expect-error the provider and name are strings
prog.attachUsdt('/x', 1, 'n');
prog.attachCgroup('/sys/fs/cgroup', AttachType.CgroupInetEgress).detach();
const section: string | undefined = prog.section;
const opts: AttachOptions = { binary: '/bin/true', symbol: 0x1000, pid: 1 };
// @ts-expect-error tcx takes a direction
prog.attachTcx('eth0', 'sideways');
// @ts-expect-error XDP modes are named
prog.attachXdp('eth0', { mode: 'turbo' });
// @ts-expect-error links come from attach*(), openPinned or fromId
new Link();
const e = new KernelConfigError('perf_event_open', 2, 'kprobe', 'CONFIG_KPROBES', 'no kprobes');
const option: string = e.option;
void [mech, tp, ifindex, bytes, text, links, section, opts, option, locations, sema, usdtErr, usdtSection];
