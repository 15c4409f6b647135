/**
 * `Link`: a program attached somewhere, owning what keeps it attached. Most
 * hooks give a kernel link (BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN): its fd
 * is the attachment, closing it detaches unless it is pinned. Older
 * mechanisms (PERF_EVENT_IOC_SET_BPF, BPF_PROG_ATTACH) are wrapped in the same
 * class; `info().mechanism` says which one holds the program.
 */
import { readSync } from 'node:fs';
import { BpfError, closedError, errnoName, errnoNumber } from '../errors.js';
import { Cmd, closeFd, cPath, getFdById, getNextId, objGet, objGetInfo, objGetInfoPointing, objPin } from '../sys/bpf.js';
import { fdKind, own, release } from '../sys/fd.js';
import { iterCreate, linkDetach, linkUpdate } from '../sys/link.js';

/** How a program is held where it runs. */
export type LinkMechanism = 'link' | 'perf_event ioctl' | 'prog_attach';

/** `enum bpf_link_type` names, by value. */
const LINK_TYPE_NAMES: readonly string[] = [
  'unspec',
  'raw_tracepoint',
  'tracing',
  'cgroup',
  'iter',
  'netns',
  'xdp',
  'perf_event',
  'kprobe_multi',
  'struct_ops',
  'netfilter',
  'tcx',
  'uprobe_multi',
  'netkit',
  'sockmap',
];

/** The kernel's name for link type `type` (`enum bpf_link_type` in lower case: `tracing`, `xdp`, …), or `type_N` for one this library does not know. */
export function linkTypeName(type: number): string {
  return LINK_TYPE_NAMES[type] ?? `type_${type}`;
}

const PERF_EVENT_TYPES = ['unspec', 'uprobe', 'uretprobe', 'kprobe', 'kretprobe', 'tracepoint', 'event'];

/** What `Link.info()` returns: the common head and the fields of the link's type. */
export interface LinkInfo {
  /** The link type (`'raw_tracepoint'`, `'tracing'`, `'cgroup'`, `'iter'`, `'netns'`, `'xdp'`, `'perf_event'`, `'tcx'`, `'sockmap'`, …). */
  type: string;
  /** `enum bpf_link_type` value (0 for the older mechanisms). */
  typeId: number;
  /** Kernel-wide link id (0 for the older mechanisms, which have none). */
  id: number;
  /** The attached program's id. */
  progId: number;
  /** Which kernel mechanism holds the program: a BPF link, a perf event's ioctl, or BPF_PROG_ATTACH. */
  mechanism: LinkMechanism;
  /** raw_tracepoint, tp_btf, perf_event tracepoint: the tracepoint name. */
  tpName?: string;
  /** tracing, cgroup, netns, tcx, sockmap, prog_attach: the attach type (`enum bpf_attach_type`). */
  attachType?: number;
  /** tracing: the target's BTF object id (0: vmlinux) and type id. */
  targetObjId?: number;
  targetBtfId?: number;
  /** cgroup: the cgroup's id (its directory's inode number). */
  cgroupId?: bigint;
  /** iter: the iterator target (`task`, `bpf_map_elem`, …) and, for map iterators, the map id. */
  iterTarget?: string;
  mapId?: number;
  /** netns: the namespace's inode number. */
  netnsIno?: number;
  /** xdp, tcx: the interface index. */
  ifindex?: number;
  /** perf_event: `'tracepoint'`, `'uprobe'`, `'uretprobe'`, `'kprobe'`, `'kretprobe'`, `'event'`. */
  perfEventType?: string;
  /** perf_event uprobe: the binary; kprobe: the function. */
  fileName?: string;
  funcName?: string;
  /** perf_event uprobe/kprobe: the offset. */
  offset?: number;
  /** perf_event event: the perf type (as the kernel reports it: newer kernels give the clock events PMU types of their own) and config. */
  eventType?: number;
  config?: bigint;
  /** uprobe_multi / kprobe_multi: how many places, and the pid filter; a USDT link (one per location): how many locations. */
  count?: number;
  pid?: number;
  /** perf_event (kprobe/uprobe/tracepoint/event) and tracing: the BPF cookie. */
  cookie?: bigint;
}

const INFO_SIZE = 64;

/** Reads `struct bpf_link_info` of a link fd, names included. */
export function readLinkInfo(fd: number): LinkInfo {
  const info = new Uint8Array(INFO_SIZE);
  const r = objGetInfo(fd, info);
  if (r.ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r.ret);
  const v = new DataView(info.buffer);
  const typeId = v.getUint32(0, true);
  const out: LinkInfo = {
    type: linkTypeName(typeId),
    typeId,
    id: v.getUint32(4, true),
    progId: v.getUint32(8, true),
    mechanism: 'link',
  };
  /** The string the kernel writes through the pointer at `ptrOff` (length field at `lenOff`). */
  const name = (ptrOff: number, lenOff: number, room = 4096): string | undefined => {
    const again = new Uint8Array(INFO_SIZE);
    const buf = new Uint8Array(room);
    new DataView(again.buffer).setUint32(lenOff, room, true);
    const ret = objGetInfoPointing(fd, again, ptrOff, buf);
    if (ret < 0) return undefined;
    const nul = buf.indexOf(0);
    return Buffer.from(nul < 0 ? buf : buf.subarray(0, nul)).toString('utf8');
  };
  switch (out.type) {
    case 'raw_tracepoint': {
      const tp = name(16, 24);
      if (tp !== undefined) out.tpName = tp;
      break;
    }
    case 'tracing':
      out.attachType = v.getUint32(16, true);
      out.targetObjId = v.getUint32(20, true);
      out.targetBtfId = v.getUint32(24, true);
      break;
    case 'cgroup':
      out.cgroupId = v.getBigUint64(16, true);
      out.attachType = v.getUint32(24, true);
      break;
    case 'iter': {
      const target = name(16, 24);
      if (target !== undefined) out.iterTarget = target;
      if (target === 'bpf_map_elem' || target === 'bpf_sk_storage_map') out.mapId = v.getUint32(28, true);
      break;
    }
    case 'netns':
      out.netnsIno = v.getUint32(16, true);
      out.attachType = v.getUint32(20, true);
      break;
    case 'xdp':
      out.ifindex = v.getUint32(16, true);
      break;
    case 'tcx':
    case 'netkit':
      out.ifindex = v.getUint32(16, true);
      out.attachType = v.getUint32(20, true);
      break;
    case 'sockmap':
      out.mapId = v.getUint32(16, true);
      out.attachType = v.getUint32(20, true);
      break;
    case 'kprobe_multi':
      out.count = v.getUint32(24, true);
      break;
    case 'uprobe_multi': {
      out.count = v.getUint32(52, true);
      out.pid = v.getUint32(60, true);
      const path = name(16, 48);
      if (path !== undefined) out.fileName = path;
      break;
    }
    case 'perf_event': {
      const pt = v.getUint32(16, true);
      out.perfEventType = PERF_EVENT_TYPES[pt] ?? `type_${pt}`;
      if (pt === 5) {
        const tp = name(24, 32, 256);
        if (tp !== undefined) out.tpName = tp;
        out.cookie = v.getBigUint64(40, true);
      } else if (pt === 1 || pt === 2) {
        const f = name(24, 32);
        if (f !== undefined) out.fileName = f;
        out.offset = v.getUint32(36, true);
        out.cookie = v.getBigUint64(40, true);
      } else if (pt === 3 || pt === 4) {
        const f = name(24, 32, 256);
        if (f !== undefined) out.funcName = f;
        out.offset = v.getUint32(36, true);
      } else if (pt === 6) {
        out.config = v.getBigUint64(24, true);
        out.eventType = v.getUint32(32, true);
        out.cookie = v.getBigUint64(40, true);
      }
      break;
    }
  }
  return out;
}

/** How a non-link attachment is undone (and described). */
export interface LegacyHold {
  mechanism: Exclude<LinkMechanism, 'link'>;
  /** Undoes the attachment (BPF_PROG_DETACH, closing the perf event, …). */
  detach(): void;
  /** The info the kernel cannot give for this attachment. */
  info(): LinkInfo;
}

const TOKEN: unique symbol = Symbol('Link');

/**
 * An attached program (see `BpfProgram.attach()` and its explicit forms):
 * `close()` detaches it unless it is pinned; `using` closes it at the end of
 * the scope; the garbage collector closes a dropped one (a safety net, not
 * the plan).
 */
export class Link {
  #fd: number;
  readonly #legacy: LegacyHold | undefined;
  readonly #cleanup: (() => void) | undefined;
  #pinned = false;
  /** Kernel-wide link id (0 for attachments made with the older mechanisms). */
  readonly id: number;

  /** Not for direct use: links come from `prog.attach*()`, `Link.openPinned`, `Link.fromId`. */
  constructor(token: typeof TOKEN, fd: number, legacy?: LegacyHold, cleanup?: () => void) {
    if (token !== TOKEN) throw new TypeError('links come from prog.attach(), Link.openPinned() or Link.fromId()');
    this.#fd = fd;
    this.#legacy = legacy;
    this.#cleanup = cleanup;
    if (fd >= 0) own(this, fd);
    if (legacy) this.id = 0;
    else {
      try {
        this.id = readLinkInfo(fd).id;
      } catch (e) {
        this.close();
        throw e;
      }
    }
  }

  /** @internal Wraps a kernel link fd (BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN); `cleanup` runs after the fd is closed. */
  static adopt(fd: number, cleanup?: () => void): Link {
    return new Link(TOKEN, fd, undefined, cleanup);
  }

  /** @internal Wraps an attachment made without a kernel link; `fd` (or -1) is what it holds open. */
  static legacy(fd: number, hold: LegacyHold, cleanup?: () => void): Link {
    return new Link(TOKEN, fd, hold, cleanup);
  }

  /**
   * @internal One Link over several (a USDT probe with many locations): `fd`, `id` and `info()` are
   * the first one's (with `count`); `close()` closes them all, then runs `cleanup`; it cannot be
   * pinned or updated.
   */
  static group(children: readonly Link[], cleanup?: () => void): Link {
    if (children.length === 0) throw new TypeError('a link group needs at least one link');
    const first = children[0] as Link;
    const all = [...children];
    const link = new Link(
      TOKEN,
      -1,
      {
        mechanism: first.mechanism as Exclude<LinkMechanism, 'link'>, // the getter reads the first link's
        detach() {
          let err: unknown;
          for (const c of all) {
            try {
              c.close();
            } catch (e) {
              err ??= e;
            }
          }
          if (err) throw err;
        },
        info: (): LinkInfo => ({ ...first.info(), count: all.length }),
      },
      cleanup,
    );
    link.#group = all;
    (link as { id: number }).id = first.id;
    return link;
  }
  #group: Link[] | undefined;

  /** The link's fd (for the older mechanisms: the perf event or target fd it holds; for a group: the first link's), or -1 once closed. */
  get fd(): number {
    if (this.#group) return this.closed ? -1 : (this.#group[0] as Link).fd;
    return this.#fd;
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#fd < 0 && (this.#legacy === undefined || this.#legacyClosed);
  }
  #legacyClosed = false;

  /** Which kernel mechanism holds the program (`'link'` for BPF links). */
  get mechanism(): LinkMechanism {
    if (this.#group) return (this.#group[0] as Link).mechanism;
    return this.#legacy?.mechanism ?? 'link';
  }

  #live(command: string): number {
    if (this.closed) throw closedError(command, 'link');
    return this.#fd;
  }

  /**
   * Reads what the kernel says about the link (BPF_OBJ_GET_INFO_BY_FD): its
   * type, program, and the fields of its type (tracepoint name, ifindex,
   * cgroup id, attach type, …), and which mechanism holds it.
   * @throws {BpfError} EBADF once closed.
   * @kernel 5.8
   */
  info(): LinkInfo {
    const fd = this.#live('BPF_OBJ_GET_INFO_BY_FD');
    if (this.#legacy) return this.#legacy.info();
    return readLinkInfo(fd);
  }

  /**
   * Pins the link at `path` on a bpffs (BPF_OBJ_PIN): it stays attached after
   * `close()` and after this process exits, until the pin is removed.
   * @throws {BpfError} EEXIST when the path exists, ENOTSUPP for attachments that are not kernel links.
   * @kernel 5.7
   */
  pin(path: string): void {
    const fd = this.#live('BPF_OBJ_PIN');
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0'))
      throw new TypeError('pin path must be a non-empty string without NUL');
    if (this.#group)
      throw new BpfError('BPF_OBJ_PIN', errnoNumber('ENOTSUPP'), {
        hint: `this attachment holds ${this.#group.length} links (one per probe location); pinning one would leave the others behind`,
      });
    if (this.#legacy)
      throw new BpfError('BPF_OBJ_PIN', errnoNumber('ENOTSUPP'), {
        hint: `this attachment uses ${this.#legacy.mechanism}, not a BPF link; only links can be pinned`,
      });
    const r = objPin(fd, cPath(path));
    if (r < 0)
      throw new BpfError('BPF_OBJ_PIN', -r, {
        hint:
          errnoName(-r) === 'EEXIST'
            ? `${path} exists`
            : errnoName(-r) === 'EPERM' || errnoName(-r) === 'EINVAL'
              ? `${path} must be on a bpffs (mount -t bpf bpf /sys/fs/bpf)`
              : errnoName(-r) === 'ENOENT'
                ? `the directory of ${path} does not exist`
                : undefined,
      });
    this.#pinned = true;
  }

  /** True after `pin()` in this process (a link opened with `openPinned` is pinned too). */
  get pinned(): boolean {
    return this.#pinned;
  }

  /**
   * Replaces the link's program with `prog` without a gap (BPF_LINK_UPDATE);
   * with `expected`, only if that program is still the attached one
   * (BPF_F_REPLACE).
   * @throws {BpfError} EINVAL when `prog` does not fit the hook, EPERM when `expected` no longer matches, ENOTSUPP for older mechanisms.
   * @kernel 5.7
   */
  update(prog: { readonly fd: number }, expected?: { readonly fd: number }): void {
    const fd = this.#live('BPF_LINK_UPDATE');
    if (this.#legacy)
      throw new BpfError('BPF_LINK_UPDATE', errnoNumber('ENOTSUPP'), {
        hint: this.#group
          ? 'this attachment holds several links; attach the new program instead'
          : `this attachment uses ${this.#legacy.mechanism}, not a BPF link`,
      });
    const progFd = programFd('BPF_LINK_UPDATE', prog);
    const oldFd = expected === undefined ? -1 : programFd('BPF_LINK_UPDATE', expected);
    const r = linkUpdate(fd, progFd, oldFd);
    if (r < 0)
      throw new BpfError('BPF_LINK_UPDATE', -r, {
        hint:
          errnoName(-r) === 'EINVAL'
            ? 'the new program must have the type and expected attach type of the attached one, and the link type must support updates (cgroup, xdp, tcx, netns, iter, sockmap, struct_ops links do; tracepoint and perf links do not)'
            : errnoName(-r) === 'EPERM' && oldFd >= 0
              ? 'the attached program is no longer the expected one'
              : errnoName(-r) === 'EOPNOTSUPP' || errnoName(-r) === 'ENOTSUPP'
                ? 'this link type cannot swap its program'
                : undefined,
      });
  }

  /**
   * Detaches the program now, even when the link is pinned or another fd of
   * it is open (BPF_LINK_DETACH), then closes this handle. Idempotent.
   * @throws {BpfError} EOPNOTSUPP for link types without a forced detach (the handle is closed anyway).
   * @kernel 5.9
   */
  detach(): void {
    if (this.closed) return;
    if (this.#legacy) {
      this.close();
      return;
    }
    const r = linkDetach(this.#fd);
    this.close();
    if (r < 0)
      throw new BpfError('BPF_LINK_DETACH', -r, {
        hint:
          errnoName(-r) === 'EOPNOTSUPP'
            ? 'this link type has no forced detach; close every fd of it and remove its pins'
            : undefined,
      });
  }

  /** False once this handle is closed or detached (a pinned link stays attached after `close()`). */
  get attached(): boolean {
    return !this.closed;
  }

  /**
   * Runs an iterator link once (BPF_ITER_CREATE, then read(2) to the end)
   * and returns the bytes its program wrote (`bpf_seq_write`/`bpf_seq_printf`).
   * @throws {BpfError} EINVAL when this is not an iterator link, EBADF once closed.
   * @kernel 5.8
   */
  readIter(): Uint8Array {
    const linkFd = this.#live('BPF_ITER_CREATE');
    const fd = iterCreate(linkFd);
    if (fd < 0)
      throw new BpfError('BPF_ITER_CREATE', -fd, {
        hint: errnoName(-fd) === 'EINVAL' ? 'the link is not an iterator link' : undefined,
      });
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for (;;) {
        const chunk = Buffer.allocUnsafe(1 << 16);
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        total += n;
      }
    } finally {
      closeFd(fd);
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  }

  /** `readIter()` decoded as UTF-8 text. @kernel 5.8 */
  readIterText(): string {
    return Buffer.from(this.readIter()).toString('utf8');
  }

  /** Closes the link: the program is detached unless the link is pinned (or another fd of it is open). Idempotent. */
  close(): void {
    if (this.closed) return;
    const fd = this.#fd;
    this.#fd = -1;
    if (this.#legacy) {
      this.#legacyClosed = true;
      try {
        this.#legacy.detach();
      } finally {
        if (fd >= 0) release(this, fd);
        this.#cleanup?.();
      }
      return;
    }
    release(this, fd);
    this.#cleanup?.();
  }

  /** Same as `close()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Opens the link pinned at `path` (BPF_OBJ_GET), e.g. by another process.
   * Closing it leaves the pin (and so the attachment) in place.
   * @throws {BpfError} ENOENT when nothing is pinned there; TypeError when the pin is not a link.
   * @kernel 5.7
   */
  static openPinned(path: string): Link {
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0'))
      throw new TypeError('pin path must be a non-empty string without NUL');
    const fd = objGet(cPath(path), 0);
    if (fd < 0)
      throw new BpfError('BPF_OBJ_GET', -fd, { hint: errnoName(-fd) === 'ENOENT' ? `nothing is pinned at ${path}` : undefined });
    const kind = fdKind(fd);
    if (kind !== 'bpf-link' && kind !== 'bpf_link') {
      release({}, fd);
      throw new TypeError(`${path} holds a ${kind ?? 'file'}, not a BPF link`);
    }
    const link = new Link(TOKEN, fd);
    link.#pinned = true;
    return link;
  }

  /**
   * Opens the link with kernel-wide id `id` (BPF_LINK_GET_FD_BY_ID).
   * @throws {BpfError} ENOENT when no link has that id.
   * @kernel 5.8
   */
  static fromId(id: number): Link {
    if (!Number.isInteger(id) || id < 1 || id > 0xffff_ffff) throw new RangeError(`link id must be a positive u32, got ${id}`);
    const fd = getFdById(Cmd.BPF_LINK_GET_FD_BY_ID, id);
    if (fd < 0)
      throw new BpfError('BPF_LINK_GET_FD_BY_ID', -fd, {
        hint: errnoName(-fd) === 'ENOENT' ? `no link has id ${id}` : undefined,
      });
    return new Link(TOKEN, fd);
  }
}

/** Every link's id on the system (BPF_LINK_GET_NEXT_ID), in order. @kernel 5.8 */
export function listLinkIds(): number[] {
  const ids: number[] = [];
  let id = 0;
  for (;;) {
    const r = getNextId(Cmd.BPF_LINK_GET_NEXT_ID, id);
    if (r.ret < 0) {
      if (errnoName(-r.ret) === 'ENOENT') return ids;
      throw new BpfError('BPF_LINK_GET_NEXT_ID', -r.ret);
    }
    id = r.nextId;
    ids.push(id);
  }
}

/** The live fd of a program handle, or EBADF. */
export function programFd(command: string, prog: { readonly fd: number }): number {
  if (typeof prog !== 'object' || prog === null) throw new TypeError('expected a BpfProgram');
  const fd = prog.fd;
  if (typeof fd !== 'number' || fd < 0) throw closedError(command, 'program');
  return fd;
}
