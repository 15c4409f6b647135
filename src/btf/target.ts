/**
 * The running kernel's BTF, as CO-RE relocations, `__ksym` externs and `attachTo` need it:
 * vmlinux (`/sys/kernel/btf/vmlinux`) and each module's split BTF (`/sys/kernel/btf/<module>`, type
 * ids continuing after vmlinux's), parsed once per process on first use (modules only when a lookup
 * misses vmlinux), with a name index built once per BTF. For kernels without BTF, a BTF blob or
 * file the user has stands in for vmlinux (`TargetBtf.fromBytes` / `fromFile`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BpfError } from '../errors.js';
import { Cmd, closeFd, getFdById, getNextId, objGetInfoPointing } from '../sys/bpf.js';
import * as L from '../sys/layout.js';
import type { BtfKind } from './kinds.js';
import { type BtfType, btfStringTable, parseBtf } from './parse.js';

const SYSFS_BTF = '/sys/kernel/btf';
const ENOENT = 2;

/** Thrown when no target BTF can be had: the kernel has none, or the given file is not BTF. */
export class BtfTargetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BtfTargetError';
  }
}

/**
 * The part of a type name CO-RE matches on: everything before the last `___` that is followed by
 * a non-underscore (`task_struct___v1` → `task_struct`). Names without such a suffix are returned whole.
 */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name.charCodeAt(i) !== 95 && name.startsWith('___', i + 1) && name.charCodeAt(i + 4) !== 95) return name.slice(0, i + 1);
  }
  return name;
}

/** A type found in kernel BTF: which BTF object holds it, its id there, and the type. */
export interface KernelBtfType {
  btf: KernelBtf;
  id: number;
  type: BtfType;
}

/** One kernel BTF object: vmlinux or one module (split on vmlinux), or a user-provided stand-in for vmlinux. */
export class KernelBtf {
  /** `vmlinux`, the module's name, or the file name of a user-provided BTF. */
  readonly name: string;
  /** Every type by id (`types[id - 1]`); a module's array starts with vmlinux's types. */
  readonly types: readonly BtfType[];
  /** The first id this object defines: 1 for vmlinux, one past vmlinux's last for a module. */
  readonly firstId: number;
  /** True for a module's split BTF. */
  readonly isModule: boolean;
  /** True when this BTF came from the running kernel (so it has a kernel BTF object id). */
  readonly fromKernel: boolean;
  /** The string table, which a module's split BTF continues. */
  readonly strings: Uint8Array;
  #byName: Map<string, number[]> | undefined;
  #byEssential: Map<string, number[]> | undefined;
  #objectId: number | undefined;
  #fd = -1;

  /** @internal */
  constructor(
    name: string,
    types: readonly BtfType[],
    firstId: number,
    strings: Uint8Array,
    isModule: boolean,
    fromKernel: boolean,
  ) {
    this.name = name;
    this.types = types;
    this.firstId = firstId;
    this.strings = strings;
    this.isModule = isModule;
    this.fromKernel = fromKernel;
  }

  /** The type with id `id`, or `undefined` (0, void, is not a type record). */
  type(id: number): BtfType | undefined {
    return this.types[id - 1];
  }

  #index(): Map<string, number[]> {
    if (this.#byName) return this.#byName;
    const m = new Map<string, number[]>();
    for (let i = this.firstId - 1; i < this.types.length; i++) {
      const t = this.types[i] as BtfType;
      if (t.name === '') continue;
      const ids = m.get(t.name);
      if (ids) ids.push(t.id);
      else m.set(t.name, [t.id]);
    }
    this.#byName = m;
    return m;
  }

  /** Ids of this object's own types named exactly `name` (any kind), lowest first; empty when none. */
  idsByName(name: string): readonly number[] {
    return this.#index().get(name) ?? [];
  }

  /** Ids of this object's own named types whose essential name (no `___flavor`) is `essential`. */
  idsByEssentialName(essential: string): readonly number[] {
    if (!this.#byEssential) {
      // Only names with a `___` can have a flavor: index those apart, the rest are their own essential name.
      const m = new Map<string, number[]>();
      for (const [name, ids] of this.#index()) {
        if (!name.includes('___')) continue;
        const e = essentialName(name);
        if (e === name) continue;
        const list = m.get(e);
        if (list) list.push(...ids);
        else m.set(e, [...ids]);
      }
      this.#byEssential = m;
    }
    const exact = essentialName(essential) === essential ? this.idsByName(essential) : [];
    const flavored = this.#byEssential.get(essential);
    if (!flavored) return exact;
    return [...exact, ...flavored].sort((a, b) => a - b);
  }

  /** The first of this object's types named `name` of kind `kind`, or `undefined`. */
  find(name: string, kind: BtfKind): KernelBtfType | undefined {
    for (const id of this.idsByName(name)) {
      const type = this.types[id - 1] as BtfType;
      if (type.kind === kind) return { btf: this, id, type };
    }
    return undefined;
  }

  /**
   * The kernel's id for this BTF object (what `bpftool btf list` shows, and what
   * `attach_btf_obj_fd`/`fd_array` refer to through its fd), or `undefined` for a user-provided BTF.
   * Found once by walking BPF_BTF_GET_NEXT_ID.
   * @throws {BpfError} when the kernel refuses to list BTF objects (EPERM without CAP_SYS_ADMIN).
   */
  get objectId(): number | undefined {
    if (!this.fromKernel) return undefined;
    if (this.#objectId === undefined) {
      const ids = kernelBtfObjectIds();
      this.#objectId = ids.get(this.name);
      if (this.#objectId === undefined)
        throw new BtfTargetError(`no kernel BTF object is named ${JSON.stringify(this.name)} (was the module unloaded?)`);
    }
    return this.#objectId;
  }

  /**
   * An fd of this kernel BTF object (BPF_BTF_GET_FD_BY_ID), for `attach_btf_obj_fd` or a kfunc's
   * `fd_array` slot. The fd belongs to this cache: do not close it; `releaseKernelBtf()` does.
   * @throws {BtfTargetError} for a user-provided BTF (it is not in the kernel).
   * @throws {BpfError} when the kernel refuses the fd.
   */
  fd(): number {
    if (this.#fd >= 0) return this.#fd;
    const id = this.objectId;
    if (id === undefined) throw new BtfTargetError(`${this.name} is a user-provided BTF, not a kernel BTF object: it has no fd`);
    const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
    if (fd < 0) throw new BpfError('BPF_BTF_GET_FD_BY_ID', -fd, { hint: `the kernel BTF object ${this.name} (id ${id})` });
    this.#fd = fd;
    return fd;
  }

  /** @internal Closes the fd `fd()` opened, if any. */
  closeFd(): void {
    if (this.#fd >= 0) closeFd(this.#fd);
    this.#fd = -1;
  }
}

/** Kernel BTF object names → ids (`vmlinux`, module names), walking BPF_BTF_GET_NEXT_ID. */
function kernelBtfObjectIds(): Map<string, number> {
  const out = new Map<string, number>();
  const info = new Uint8Array(L.BtfInfoLayout.SIZE);
  const iv = new DataView(info.buffer);
  const nameBuf = new Uint8Array(64);
  let id = 0;
  for (;;) {
    const next = getNextId(Cmd.BPF_BTF_GET_NEXT_ID, id);
    if (next.ret < 0) {
      if (-next.ret === ENOENT) return out;
      throw new BpfError('BPF_BTF_GET_NEXT_ID', -next.ret);
    }
    id = next.nextId;
    const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
    if (fd < 0) {
      if (-fd === ENOENT) continue; // unloaded meanwhile
      throw new BpfError('BPF_BTF_GET_FD_BY_ID', -fd);
    }
    try {
      info.fill(0);
      nameBuf.fill(0);
      iv.setUint32(L.BtfInfoLayout.nameLen, nameBuf.length, true);
      const r = objGetInfoPointing(fd, info, L.BtfInfoLayout.name, nameBuf);
      if (r < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r);
      if (iv.getUint32(L.BtfInfoLayout.kernelBtf, true) === 0) continue;
      const end = nameBuf.indexOf(0);
      const name = Buffer.from(nameBuf.subarray(0, end < 0 ? nameBuf.length : end)).toString('utf8');
      if (!out.has(name)) out.set(name, id);
    } finally {
      closeFd(fd);
    }
  }
}

function parseAs(name: string, blob: Uint8Array, base?: KernelBtf): BtfType[] {
  try {
    return parseBtf(blob, base ? { types: base.types, strings: base.strings } : undefined);
  } catch (e) {
    throw new BtfTargetError(`${name}: not readable BTF (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The BTF a program is relocated and resolved against: vmlinux plus, for the running kernel, its
 * modules (loaded lazily, only when vmlinux lacks what is looked for).
 */
export class TargetBtf {
  /** vmlinux's BTF, or the user-provided BTF standing in for it. */
  readonly vmlinux: KernelBtf;
  #modules: KernelBtf[] | undefined;
  /** Milliseconds spent parsing vmlinux (a measurement for benchmarks and reports). */
  readonly parseMs: number;

  private constructor(vmlinux: KernelBtf, parseMs: number, modules?: KernelBtf[]) {
    this.vmlinux = vmlinux;
    this.parseMs = parseMs;
    this.#modules = modules;
  }

  /** True when this is the running kernel's BTF (with modules), false for a user-provided one. */
  get fromKernel(): boolean {
    return this.vmlinux.fromKernel;
  }

  /**
   * The running kernel's BTF, parsed on the first call and cached for the process.
   * @throws {BtfTargetError} when the kernel exposes no BTF (built without CONFIG_DEBUG_INFO_BTF):
   *   pass a BTF file for it instead.
   */
  static kernel(): TargetBtf {
    if (cached) return cached;
    let blob: Uint8Array;
    try {
      blob = readFileSync(`${SYSFS_BTF}/vmlinux`);
    } catch (e) {
      throw new BtfTargetError(
        `this kernel has no BTF at ${SYSFS_BTF}/vmlinux (it needs CONFIG_DEBUG_INFO_BTF=y, Linux 5.4+): pass a BTF file for it (e.g. from btfhub) instead`,
        { cause: e },
      );
    }
    const t0 = performance.now();
    const types = parseAs(`${SYSFS_BTF}/vmlinux`, blob);
    const vmlinux = new KernelBtf('vmlinux', types, 1, btfStringTable(blob), false, true);
    cached = new TargetBtf(vmlinux, performance.now() - t0);
    return cached;
  }

  /**
   * A user-provided BTF blob standing in for vmlinux (no modules), for kernels without BTF.
   * @throws {BtfTargetError} when `blob` is not BTF.
   */
  static fromBytes(blob: Uint8Array, name = 'user BTF'): TargetBtf {
    if (!(blob instanceof Uint8Array)) throw new TypeError('TargetBtf.fromBytes takes a Uint8Array of raw BTF');
    const t0 = performance.now();
    const types = parseAs(name, blob);
    return new TargetBtf(new KernelBtf(name, types, 1, btfStringTable(blob), false, false), performance.now() - t0, []);
  }

  /**
   * A user-provided raw BTF file (e.g. `bpftool btf dump file vmlinux format raw`'s input, or a
   * btfhub `.btf` file) standing in for vmlinux.
   * @throws {BtfTargetError} when the file cannot be read or is not raw BTF.
   */
  static fromFile(path: string): TargetBtf {
    let blob: Uint8Array;
    try {
      blob = readFileSync(path);
    } catch (e) {
      throw new BtfTargetError(`cannot read the BTF file ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (blob[0] === 0x7f && blob[1] === 0x45 && blob[2] === 0x4c && blob[3] === 0x46)
      throw new BtfTargetError(
        `${path} is an ELF file: pass its raw .BTF section (e.g. \`objcopy -O binary --only-section=.BTF ${path} out.btf\`)`,
      );
    return TargetBtf.fromBytes(blob, path);
  }

  /** The kernel modules' BTF (read on the first call); empty for a user-provided BTF. */
  modules(): readonly KernelBtf[] {
    if (this.#modules) return this.#modules;
    const mods: KernelBtf[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(SYSFS_BTF).filter((n) => n !== 'vmlinux');
    } catch {
      names = [];
    }
    for (const name of names.sort()) {
      let blob: Uint8Array;
      try {
        blob = readFileSync(`${SYSFS_BTF}/${name}`);
      } catch {
        continue; // unloaded meanwhile
      }
      const own = parseAs(`${SYSFS_BTF}/${name}`, blob, this.vmlinux);
      const types = (this.vmlinux.types as BtfType[]).concat(own);
      mods.push(new KernelBtf(name, types, this.vmlinux.types.length + 1, this.vmlinux.strings, true, true));
    }
    this.#modules = mods;
    return mods;
  }

  /** @internal The modules read so far, without reading them. */
  loadedModules(): readonly KernelBtf[] {
    return this.#modules ?? [];
  }

  /** The BTF of module `name`, or `undefined` when it is not loaded (or has no BTF). */
  module(name: string): KernelBtf | undefined {
    return this.modules().find((m) => m.name === name);
  }

  /**
   * The type named `name` of kind `kind` (a FUNC for kfuncs and `attachTo`, a VAR for `__ksym`
   * variables, a STRUCT…): vmlinux first, then each module. `undefined` when none has it.
   */
  find(name: string, kind: BtfKind): KernelBtfType | undefined {
    const v = this.vmlinux.find(name, kind);
    if (v) return v;
    for (const m of this.modules()) {
      const r = m.find(name, kind);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * CO-RE candidates for a local type's essential name: every named type of vmlinux with that
   * essential name, or — only when vmlinux has none and this is the running kernel — of the
   * modules. `accept` filters them (by kind) before that decision, as libbpf does.
   */
  candidates(essential: string, accept: (t: BtfType) => boolean = () => true): KernelBtfType[] {
    const out: KernelBtfType[] = [];
    const add = (btf: KernelBtf) => {
      for (const id of btf.idsByEssentialName(essential)) {
        const type = btf.types[id - 1] as BtfType;
        if (accept(type)) out.push({ btf, id, type });
      }
    };
    add(this.vmlinux);
    if (out.length > 0 || !this.fromKernel) return out;
    for (const m of this.modules()) add(m);
    return out;
  }
}

let cached: TargetBtf | undefined;

/**
 * Drops the cached kernel BTF and closes the fds its `KernelBtf.fd()` opened; the next
 * `TargetBtf.kernel()` parses again (after a module was loaded, say).
 */
export function releaseKernelBtf(): void {
  if (!cached) return;
  cached.vmlinux.closeFd();
  for (const m of cached.loadedModules()) m.closeFd();
  cached = undefined;
}
