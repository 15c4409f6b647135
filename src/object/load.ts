/**
 * `loadObject()` / `ObjectSpec.load()`: creates an object's maps (reusing
 * pins and maps the caller gives), writes and freezes its global data,
 * loads its BTF and programs with relocations resolved, and returns a
 * `BpfObject` that owns all of it. A failure closes everything created so
 * far, removes the pins it made, and says how far loading got.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Btf } from '../btf/load.js';
import { BtfKind } from '../btf/kinds.js';
import { CoreRelocationError, applyCoreRelocations } from '../btf/core.js';
import { BtfTargetError, TargetBtf } from '../btf/target.js';
import type { Codec } from '../codec/codec.js';
import { possibleCpus } from '../sys/cpu.js';
import type { ElfSection } from '../elf/elf.js';
import { ObjectError } from '../elf/error.js';
import { BpfError, errnoNumber } from '../errors.js';
import type { Link } from '../link/link.js';
import { sectionAttaches } from '../link/section.js';
import { setUsdtMaps } from '../link/usdt.js';
import { BpfMap } from '../map/map.js';
import type { ReadOnlyMapping } from '../map/mmap.js';
import { type BpfProgram, loadProgram } from '../prog/program.js';
import { MapType } from '../sys/uapi.js';
import { fixupBtf } from './btf-fixup.js';
import { kernelBtfFeatures, sanitizeBtf } from '../btf/sanitize.js';
import { fillKconfig } from './kconfig.js';
import { type ExternValue, linkProgram } from './link.js';
import { type MapSpec, PIN_BY_NAME } from './maps.js';
import { type ExternSpec, type ObjectSpec, internalsOf, openObject, registerLoader } from './spec.js';

/** Per-map load options. */
export interface LoadMapOptions {
  /** Overrides the declared `max_entries`. */
  maxEntries?: number;
  /** Overrides the declared map type. */
  type?: number;
  /** Use this map instead of creating one (the object keeps its own fd of it). */
  reuse?: BpfMap;
}

/** Options of `loadObject` and `ObjectSpec.load`. */
export interface LoadObjectOptions {
  /** Initial values of global variables (`const volatile` configuration in `.rodata`, counters in `.data`). */
  variables?: Record<string, unknown>;
  maps?: Record<string, LoadMapOptions>;
  programs?: Record<string, { autoload?: boolean }>;
  /** Directory of maps declared with `LIBBPF_PIN_BY_NAME` (default `/sys/fs/bpf`). */
  pinPath?: string;
  /** Verifier log level for every program (1 or 2); by default the log is fetched only on refusal. */
  logLevel?: number;
  /**
   * BTF of the kernel to relocate CO-RE accesses and find attach targets against (a raw BTF file's
   * path or bytes), for kernels without `/sys/kernel/btf/vmlinux`. Default: the running kernel's.
   */
  kernelBtf?: string | Uint8Array;
}

/** A loaded global variable: reads and writes go through the data map's memory (no syscall). */
export interface BpfVariable<T = unknown> {
  readonly name: string;
  readonly section: string;
  /** The current value, as programs see it. */
  get(): T;
  /**
   * Writes the value where programs read it.
   * @throws {TypeError} for `.rodata` variables (frozen after load), and for values the type cannot hold.
   */
  set(value: T): void;
}

const NO_BTF_TYPES = new Set<number>([
  MapType.PerfEventArray,
  MapType.CgroupArray,
  MapType.StackTrace,
  MapType.ArrayOfMaps,
  MapType.HashOfMaps,
  MapType.Devmap,
  MapType.DevmapHash,
  MapType.Cpumap,
  MapType.Xskmap,
  MapType.Sockmap,
  MapType.Sockhash,
  MapType.Queue,
  MapType.Stack,
  MapType.Arena,
]);

/** A loaded object: its maps, programs and variables, owned together. `close()` it or use `using`. */
export class BpfObject {
  /** Maps by C name, global-data maps by section name (`.rodata`, `.data`, `.bss`, `.kconfig`, …). */
  readonly maps: Readonly<Record<string, BpfMap>>;
  /** Loaded programs by C function name (programs with autoload off are absent). */
  readonly programs: Readonly<Record<string, BpfProgram>>;
  /** Global variables by C name, live through the data maps' memory. */
  readonly variables: Readonly<Record<string, BpfVariable>>;
  /** What the loader had to work around (BTF the kernel refused, …), for debugging. */
  readonly notes: readonly string[];
  readonly #links: Link[] = [];
  readonly #mappings: (Uint8Array | ReadOnlyMapping)[];
  #closed = false;

  /** @internal Not for direct use: see `loadObject`. */
  constructor(
    maps: Record<string, BpfMap>,
    programs: Record<string, BpfProgram>,
    variables: Record<string, BpfVariable>,
    notes: string[],
    mappings: (Uint8Array | ReadOnlyMapping)[],
  ) {
    this.maps = Object.freeze(maps);
    this.programs = Object.freeze(programs);
    this.variables = Object.freeze(variables);
    this.notes = Object.freeze(notes);
    this.#mappings = mappings;
  }

  /** True once `close()` ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Attaches every loaded program whose section says where it attaches
   * (`prog.attach()`), returning the links; they are closed with the object.
   * Programs whose section leaves the target open (`xdp`, `tc`, `cgroup/…`, `uprobe` without a
   * path, …) are skipped: attach those with `prog.attach(opts)` or an explicit form.
   * @throws {BpfError} (and the link errors) from the attach itself; links made before the failure are closed.
   */
  attach(): Link[] {
    if (this.#closed) throw new BpfError('attach', errnoNumber('EBADF'), { hint: 'the object is closed' });
    const made: Link[] = [];
    try {
      for (const p of Object.values(this.programs)) {
        if (sectionAttaches(p.section)) made.push(p.attach());
      }
    } catch (e) {
      for (const l of made.reverse()) l.close();
      throw e;
    }
    this.#links.push(...made);
    return made;
  }

  /** Closes the links `attach()` made, the programs, the maps and the variables' mappings. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.#links.splice(0).reverse()) {
      try {
        l.close();
      } catch {}
    }
    for (const p of Object.values(this.programs)) p.close();
    for (const m of this.#mappings.splice(0)) BpfMap.unmap(m);
    for (const m of Object.values(this.maps)) m.close();
  }

  /** `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Sections that say where a program attaches without more input. */
function readOpts(opts: LoadObjectOptions): LoadObjectOptions {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('load options must be an object');
  const obj = (v: unknown, what: string): Record<string, unknown> | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null) throw new TypeError(`${what} must be an object`);
    return { ...(v as Record<string, unknown>) };
  };
  const maps: Record<string, LoadMapOptions> = Object.create(null); // keyed by ELF names (or by them as the options spell them)
  for (const [k, m] of Object.entries(obj(opts.maps, 'maps') ?? {})) {
    const mm = obj(m, `maps.${k}`) ?? {};
    maps[k] = { ...(mm as LoadMapOptions) };
  }
  const programs: Record<string, { autoload?: boolean }> = Object.create(null); // keyed by ELF names (or by them as the options spell them)
  for (const [k, p] of Object.entries(obj(opts.programs, 'programs') ?? {})) programs[k] = { ...(obj(p, `programs.${k}`) ?? {}) };
  const out: LoadObjectOptions = { maps, programs };
  const vars = obj(opts.variables, 'variables');
  if (vars) out.variables = vars;
  if (opts.pinPath !== undefined) {
    if (typeof opts.pinPath !== 'string' || opts.pinPath === '') throw new TypeError('pinPath must be a directory path');
    out.pinPath = opts.pinPath;
  }
  if (opts.logLevel !== undefined) out.logLevel = opts.logLevel;
  if (opts.kernelBtf !== undefined) {
    if (typeof opts.kernelBtf !== 'string' && !(opts.kernelBtf instanceof Uint8Array))
      throw new TypeError('kernelBtf must be a file path or a Uint8Array of raw BTF');
    out.kernelBtf = typeof opts.kernelBtf === 'string' ? opts.kernelBtf : opts.kernelBtf.slice();
  }
  return out;
}

function loadSpec(spec: ObjectSpec, rawOpts: LoadObjectOptions): BpfObject {
  const opts = readOpts(rawOpts);
  const I = internalsOf(spec);
  const pinPath = opts.pinPath ?? '/sys/fs/bpf';
  // Apply the options to the spec's settings (validated before anything reaches the kernel).
  for (const [name, value] of Object.entries(opts.variables ?? {})) {
    const v = spec.variables[name];
    if (!v)
      throw new ObjectError(
        `no global variable is named ${name} (the object has ${Object.keys(spec.variables).join(', ') || 'none'})`,
      );
    v.set(value);
  }
  const mapDefs = new Map<string, MapSpec>();
  for (const m of Object.values(spec.maps)) {
    const o = opts.maps?.[m.name];
    const d = { ...m };
    if (o?.type !== undefined) d.type = o.type;
    if (o?.maxEntries !== undefined) d.maxEntries = o.maxEntries;
    if (o?.reuse !== undefined && !(o.reuse instanceof BpfMap))
      throw new TypeError(`maps.${m.name}.reuse must be a BpfMap, got ${typeof o.reuse}`);
    mapDefs.set(m.name, d);
  }
  for (const name of Object.keys(opts.maps ?? {}))
    if (!spec.maps[name]) throw new ObjectError(`no map is named ${name} (the object has ${Object.keys(spec.maps).join(', ')})`);
  const autoload = new Map<string, boolean>();
  for (const p of Object.values(spec.programs)) autoload.set(p.name, opts.programs?.[p.name]?.autoload ?? p.autoload);
  for (const name of Object.keys(opts.programs ?? {}))
    if (!spec.programs[name]) throw new ObjectError(`no program is named ${name}`);
  for (const p of Object.values(spec.programs))
    if (autoload.get(p.name) && p.type === undefined)
      throw new ObjectError(
        `the section name ${p.section} follows no known convention (such as xdp, kprobe/…, tracepoint/…), so the program type is unknown`,
        {
          program: p.name,
          section: p.section,
        },
      );
  const relocs = I.relocs;

  // Everything created, for cleanup on failure.
  const maps: Record<string, BpfMap> = Object.create(null); // keyed by ELF names (or by them as the options spell them)
  const programs: Record<string, BpfProgram> = Object.create(null); // keyed by ELF names (or by them as the options spell them)
  const mappings: (Uint8Array | ReadOnlyMapping)[] = [];
  const pinned: string[] = [];
  const notes: string[] = [];
  let btf: Btf | undefined;
  let stage = 'loading BTF';
  try {
    // BTF, fixed up for the kernel; without it the object still loads, as libbpf does.
    const btfFeatures = kernelBtfFeatures();
    if (I.btfRaw) {
      const kconfigVars = new Map<string, { offset: number; size: number }>();
      for (const e of I.externs.values()) if (e.kind === 'kconfig') kconfigVars.set(e.name, { offset: e.offset, size: e.size });
      try {
        const fixed = fixupBtf(I.btfRaw, {
          sectionSize: (name) => I.elf.section(name)?.size,
          varOffset: (section, v) => {
            const sec = I.elf.section(section);
            if (!sec) return undefined;
            return I.elf.symbols().find((s) => s.shndx === sec.index && s.name === v)?.value;
          },
          kconfig: I.kconfigSize ? { size: I.kconfigSize, vars: kconfigVars } : undefined,
          // STT_FUNC, STB_GLOBAL/STB_WEAK, STV_HIDDEN
          hiddenFuncs: new Set(
            I.elf
              .symbols()
              .filter((s) => s.type === 2 && (s.bind === 1 || s.bind === 2) && s.visibility === 2)
              .map((s) => s.name),
          ),
        });
        btf = Btf.load(sanitizeBtf(fixed, btfFeatures)); // kinds the kernel lacks rewritten, ids kept
      } catch (e) {
        if (e instanceof ObjectError) throw e;
        notes.push(`the kernel refused the object's BTF; loading without it (no func/line info): ${(e as Error).message}`);
      }
    }

    // Maps.
    const created: string[] = [];
    stage = 'creating maps';
    const specOf = (name: string) => mapDefs.get(name)!;
    for (const m of mapDefs.values()) {
      stage = `creating map ${m.name}`;
      maps[m.name] = createMap(m, opts.maps?.[m.name]?.reuse, btf, pinPath, pinned, I.data.get(m.name), () => {
        if (m.origin !== 'kconfig' || !I.btf) return undefined;
        const bytes = new Uint8Array(m.valueSize);
        fillKconfig(bytes, [...I.externs.values()], I.btf.types);
        return bytes;
      });
      created.push(m.name);
    }
    // Map-in-map initialisers.
    for (const m of mapDefs.values()) {
      if (m.type === MapType.ProgArray) continue;
      for (const [slot, target] of m.initSlots) {
        stage = `initialising slot ${slot} of map ${m.name}`;
        const inner = maps[target];
        if (!inner) throw new ObjectError(`slot ${slot} refers to ${target}, which is no map of this object`, { map: m.name });
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, slot, true);
        maps[m.name]!.update(key, inner);
      }
    }

    // Live variables, through the data maps' memory.
    const variables: Record<string, BpfVariable> = Object.create(null); // keyed by ELF names (or by them as the options spell them)
    const views = new Map<string, { bytes: () => Uint8Array; readOnly: boolean }>();
    for (const v of Object.values(spec.variables)) {
      const map = maps[v.section];
      if (!map) continue;
      let view = views.get(v.section);
      if (!view) {
        const readOnly = (specOf(v.section).flags & 128) !== 0; // BPF_F_RDONLY_PROG: .rodata, frozen
        if (readOnly) {
          const ro = map.mmap({ writable: false });
          mappings.push(ro);
          view = { bytes: () => ro.slice(0, map.valueSize), readOnly };
        } else {
          const rw = map.mmap();
          mappings.push(rw);
          view = { bytes: () => rw, readOnly };
        }
        views.set(v.section, view);
      }
      variables[v.name] = liveVariable(v.name, v.section, v.offset, v.type, view.bytes, view.readOnly);
    }

    // Externs that live in the kernel: resolved once for every program.
    const externValues = new Map<ExternSpec, ExternValue>();
    const fdArray: number[] = [];
    const externValue = (e: ExternSpec): ExternValue => {
      const known = externValues.get(e);
      if (known) return known;
      let v: ExternValue;
      if (e.kind === 'kconfig') v = { kind: 'kconfig', mapFd: maps['.kconfig']!.fd, offset: e.offset };
      else {
        const found = TargetBtf.kernel().find(e.name, e.kind === 'kfunc' ? BtfKind.Func : BtfKind.Var);
        if (!found) {
          if (!e.weak)
            throw new ObjectError(
              `extern ${e.name} (__ksym ${e.kind === 'kfunc' ? 'function' : 'variable'}) is not in the kernel's BTF (vmlinux or modules); declare it __weak to load without it`,
            );
          v = { kind: 'missing' };
        } else if (e.kind === 'kfunc') {
          let fdIndex = 0;
          if (found.btf.isModule) {
            const fd = found.btf.fd();
            fdIndex = fdArray.indexOf(fd);
            if (fdIndex < 0) {
              if (fdArray.length === 0) fdArray.push(0); // index 0 means vmlinux
              fdIndex = fdArray.push(fd) - 1;
            }
          }
          v = { kind: 'kfunc', btfId: found.id, fdIndex, btfObjFd: found.btf.isModule ? found.btf.fd() : 0 };
        } else v = { kind: 'ksym', btfId: found.id, btfObjFd: found.btf.isModule ? found.btf.fd() : 0 };
      }
      externValues.set(e, v);
      return v;
    };

    // Programs.
    const sectionCode = new Map<number, Uint8Array>();
    let target: TargetBtf | undefined;
    const env = {
      sectionCode: (s: ElfSection) => {
        let c = sectionCode.get(s.index);
        if (!c) {
          c = I.elf.data(s).slice();
          // CO-RE per section, before subprograms are appended (as libbpf), skipping programs not loaded.
          const skipped = I.funcs.filter((f) => f.section === s && f.isProgram && !autoload.get(f.name));
          const relos = (I.ext?.coreRelos.get(s.name) ?? []).filter(
            (r) => !skipped.some((f) => r.insnOff >= f.start * 8 && r.insnOff < (f.start + f.count) * 8),
          );
          if (relos.length && I.btf) {
            try {
              target ??= opts.kernelBtf === undefined ? TargetBtf.kernel() : targetFrom(opts.kernelBtf);
              applyCoreRelocations(c, relos, I.btf.types, target, { section: s.name });
            } catch (e) {
              if (!(e instanceof CoreRelocationError) && !(e instanceof BtfTargetError)) throw e;
              const off = (e as CoreRelocationError).insnOff;
              const f =
                off === undefined
                  ? undefined
                  : I.funcs.find((x) => x.section === s && off >= x.start * 8 && off < (x.start + x.count) * 8);
              throw new ObjectError(`CO-RE: ${e.message}`, { program: f?.name, section: s.name, offset: off, cause: e });
            }
          }
          sectionCode.set(s.index, c);
        }
        return c;
      },
      mapFd: (m: MapSpec) => maps[m.name]!.fd,
      dataMapFd: (name: string) => maps[name]!.fd,
      extern: externValue,
    };
    const license = I.license || 'GPL';
    const loadable = Object.values(spec.programs).filter((p) => autoload.get(p.name));
    for (const p of loadable) {
      stage = `loading program ${p.name}`;
      const main = I.funcs.find((f) => f.isProgram && f.name === p.name)!;
      let linked: ReturnType<typeof linkProgram>;
      try {
        linked = linkProgram({ elf: I.elf, funcs: I.funcs, relocs, ext: I.ext }, env, main);
      } catch (e) {
        if (e instanceof ObjectError && e.program === undefined)
          throw new ObjectError(e.reason, { program: p.name, section: e.section, offset: e.offset, cause: e });
        throw e;
      }
      let attachBtfId = 0;
      let attachBtfObjFd = 0;
      if (p.attachTo !== undefined) {
        const t = attachTarget(p.section, p.attachTo);
        const found = (opts.kernelBtf === undefined ? TargetBtf.kernel() : targetFrom(opts.kernelBtf)).find(t.name, t.kind);
        if (!found)
          throw new ObjectError(
            `the attach target ${p.attachTo} is not in the kernel's BTF (looked for ${BtfKind[t.kind]} ${t.name})`,
            {
              program: p.name,
              section: p.section,
            },
          );
        attachBtfId = found.id;
        if (found.btf.isModule) attachBtfObjFd = found.btf.fd();
      }
      const useBtf = btf !== undefined && btfFeatures.func && linked.funcInfo !== undefined; // no BTF functions: no func/line info
      try {
        programs[p.name] = loadProgram({
          type: p.type!,
          instructions: linked.insns,
          license,
          name: p.name.slice(0, 15).replace(/[^A-Za-z0-9_.]/g, '_'),
          expectedAttachType: p.expectedAttachType,
          flags: p.flags,
          section: p.section,
          kernVersion: I.version,
          ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
          ...(useBtf ? { btf: btf!, funcInfo: linked.funcInfo!, ...(linked.lineInfo ? { lineInfo: linked.lineInfo } : {}) } : {}),
          ...(attachBtfId ? { attachBtfId } : {}),
          ...(attachBtfObjFd ? { attachBtfObjFd } : {}),
          ...(fdArray.length ? { fdArray } : {}),
        });
      } catch (e) {
        const ksym = /failed to find the address for kernel symbol '([^']+)'/.exec((e as BpfError).log ?? '');
        const why = ksym
          ? `; the __ksym ${ksym[1]} is in the kernel's BTF but not in /proc/kallsyms (data symbols need CONFIG_KALLSYMS_ALL)`
          : '';
        throw new ObjectError(`the kernel refused it${why}: ${(e as Error).message}`, {
          program: p.name,
          section: p.section,
          cause: e,
        });
      }
    }
    // Prog-array initialisers, now that the programs exist.
    for (const m of mapDefs.values()) {
      if (m.type !== MapType.ProgArray) continue;
      for (const [slot, target] of m.initSlots) {
        stage = `initialising slot ${slot} of map ${m.name}`;
        const prog = programs[target];
        if (!prog) {
          if (spec.programs[target]) continue; // not loaded (autoload off): the slot stays empty
          throw new ObjectError(`slot ${slot} refers to ${target}, which is no program of this object`, { map: m.name });
        }
        const key = new Uint8Array(4);
        const value = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, slot, true);
        new DataView(value.buffer).setUint32(0, prog.fd, true);
        maps[m.name]!.update(key, value);
      }
    }
    // usdt.bpf.h's maps: each program finds them when attached to a USDT probe.
    if (maps.__bpf_usdt_specs)
      for (const prog of Object.values(programs))
        setUsdtMaps(prog, { specs: maps.__bpf_usdt_specs, ipToSpecId: maps.__bpf_usdt_ip_to_spec_id });
    btf?.close(); // programs and maps hold their own references
    return new BpfObject(maps, programs, variables, notes, mappings);
  } catch (e) {
    for (const p of Object.values(programs)) p.close();
    for (const m of mappings) BpfMap.unmap(m);
    for (const m of Object.values(maps)) m.close();
    btf?.close();
    for (const path of pinned) {
      try {
        unlinkSync(path);
      } catch {}
    }
    const done = `${Object.keys(maps).length} of ${mapDefs.size} maps created, ${Object.keys(programs).length} of ${
      Object.values(spec.programs).filter((p) => autoload.get(p.name)).length
    } programs loaded; all closed again`;
    if (e instanceof ObjectError)
      throw new ObjectError(`${e.reason} (while ${stage}: ${done})`, {
        section: e.section,
        offset: e.offset,
        program: e.program,
        map: e.map,
        cause: e.cause ?? e,
      });
    throw new ObjectError(`${(e as Error).message} (while ${stage}: ${done})`, { cause: e });
  }
}

function createMap(
  m: MapSpec,
  reuse: BpfMap | undefined,
  btf: Btf | undefined,
  pinPath: string,
  pinned: string[],
  data: Uint8Array | undefined,
  kconfig: () => Uint8Array | undefined,
): BpfMap {
  if (reuse) {
    if (reuse.closed) throw new ObjectError('the map given to reuse is closed', { map: m.name });
    return BpfMap.fromFd(reuse.fd);
  }
  let maxEntries = m.maxEntries;
  if (m.type === MapType.PerfEventArray && maxEntries === 0) maxEntries = possibleCpus();
  const pinAt = m.pinning === PIN_BY_NAME ? join(pinPath, m.name) : undefined;
  if (pinAt && existsSync(pinAt)) {
    const old = BpfMap.openPinned(pinAt);
    const diff: string[] = [];
    if (old.type !== m.type) diff.push(`type (pinned ${old.type}, declared ${m.type})`);
    if (old.keySize !== m.keySize) diff.push(`key_size (pinned ${old.keySize}, declared ${m.keySize})`);
    if (old.valueSize !== m.valueSize) diff.push(`value_size (pinned ${old.valueSize}, declared ${m.valueSize})`);
    if (old.maxEntries !== maxEntries) diff.push(`max_entries (pinned ${old.maxEntries}, declared ${maxEntries})`);
    if (old.flags !== m.flags) diff.push(`map_flags (pinned 0x${old.flags.toString(16)}, declared 0x${m.flags.toString(16)})`);
    if (diff.length) {
      old.close();
      throw new ObjectError(`the map pinned at ${pinAt} differs in ${diff.join(', ')}: unpin it or change the declaration`, {
        map: m.name,
      });
    }
    return old;
  }
  let inner: BpfMap | undefined;
  try {
    if (m.inner) inner = createMap(m.inner, undefined, btf, pinPath, pinned, undefined, () => undefined);
    const withBtf = btf !== undefined && !NO_BTF_TYPES.has(m.type) && (m.btfKeyTypeId !== 0 || m.btfValueTypeId !== 0);
    const base = {
      type: m.type,
      name: m.kernelName,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries,
      flags: m.flags,
      ...(m.numaNode ? { numaNode: m.numaNode } : {}),
      ...(m.mapExtra ? { mapExtra: m.mapExtra } : {}),
      ...(inner ? { innerMap: inner } : {}),
    };
    let map: BpfMap;
    try {
      map = BpfMap.create(
        withBtf ? { ...base, btf: { fd: btf!.fd, keyTypeId: m.btfKeyTypeId, valueTypeId: m.btfValueTypeId } } : base,
      );
    } catch (e) {
      if (!withBtf || !(e instanceof BpfError))
        throw new ObjectError(`BPF_MAP_CREATE failed: ${(e as Error).message}`, { map: m.name, cause: e });
      // As libbpf: a map the kernel refuses with BTF is retried without.
      try {
        map = BpfMap.create(base);
      } catch (e2) {
        throw new ObjectError(`BPF_MAP_CREATE failed: ${(e2 as Error).message}`, { map: m.name, cause: e2 });
      }
    }
    try {
      const contents = data ?? kconfig();
      if (contents) {
        map.update(new Uint8Array(4), contents);
        if (m.flags & 128) map.freeze(); // .rodata, .kconfig: read-only for programs, frozen for everyone
      }
      if (pinAt) {
        map.pin(pinAt);
        pinned.push(pinAt);
      }
    } catch (e) {
      map.close();
      throw new ObjectError(`${(e as Error).message}`, { map: m.name, cause: e });
    }
    return map;
  } finally {
    inner?.close();
  }
}

const targets = new WeakMap<Uint8Array, TargetBtf>();
const targetFiles = new Map<string, TargetBtf>();

/** A user-given kernel BTF, parsed once per path or buffer. */
function targetFrom(btf: string | Uint8Array): TargetBtf {
  if (typeof btf === 'string') {
    let t = targetFiles.get(btf);
    if (!t) {
      t = TargetBtf.fromFile(btf);
      targetFiles.set(btf, t);
    }
    return t;
  }
  let t = targets.get(btf);
  if (!t) {
    t = TargetBtf.fromBytes(btf);
    targets.set(btf, t);
  }
  return t;
}

/** The kernel BTF type a tracing program's target names. */
function attachTarget(section: string, target: string): { name: string; kind: BtfKind } {
  if (section.startsWith('tp_btf')) return { name: `btf_trace_${target}`, kind: BtfKind.Typedef };
  if (section.startsWith('lsm')) return { name: `bpf_lsm_${target}`, kind: BtfKind.Func };
  if (section.startsWith('iter')) return { name: `bpf_iter_${target}`, kind: BtfKind.Func };
  return { name: target, kind: BtfKind.Func };
}

function liveVariable(
  name: string,
  section: string,
  offset: number,
  codec: Codec<unknown>,
  bytes: () => Uint8Array,
  readOnly: boolean,
): BpfVariable {
  return Object.freeze({
    name,
    section,
    get: () => codec.decode(bytes(), offset),
    set: (value: unknown) => {
      if (readOnly)
        throw new TypeError(
          `${name} is in ${section}, which is frozen after load: set it before load (spec.variables.${name}.set or loadObject's variables)`,
        );
      codec.encode(value, bytes(), offset);
    },
  });
}

registerLoader(loadSpec);

/**
 * Reads a BPF object file (path or bytes) and loads it: `openObject(source).load(opts)`.
 * @throws {ObjectError} for a malformed object, or naming the map, program or extern that failed
 *   to load and how far loading got; everything created before the failure is closed.
 */
export function loadObject(source: string | Uint8Array, opts: LoadObjectOptions & { name?: string } = {}): BpfObject {
  const { name, ...rest } = opts;
  return openObject(source, name === undefined ? {} : { name }).load(rest);
}
