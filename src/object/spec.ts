/**
 * `openObject()`: an ELF BPF object read into an `ObjectSpec` — its maps,
 * programs, global variables and externs — with nothing sent to the kernel.
 * `spec.load()` (object/load.ts) then creates and loads it.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Codec, decodeWith } from '../codec/codec.js';
import { array } from '../codec/struct.js';
import { BtfCodecError, BtfSpec } from '../btf/codecs.js';
import { type BtfExt, parseBtfExt } from '../btf/ext.js';
import { BtfKind } from '../btf/kinds.js';
import { type BtfType, parseBtf } from '../btf/parse.js';
import {
  ElfFile,
  type ElfSection,
  type ElfSymbol,
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_WEAK,
  STT_FUNC,
  STT_SECTION,
} from '../elf/elf.js';
import { ObjectError } from '../elf/error.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType } from '../sys/uapi.js';
import { alignOf, findDatasec, skipModifiers, typeAt } from './btf-util.js';
import { type MapSpec, type MutableMapSpec, dataMapName, readBtfMaps, readLegacyMaps } from './maps.js';
import { type SectionKind, sectionKind } from './sections.js';
import { type CodeReloc, collectRelocations } from './link.js';
import type { BpfObject, LoadObjectOptions } from './load.js';

/** Options of `openObject`. */
export interface OpenObjectOptions {
  /**
   * The object's name, which prefixes the kernel names of its global-data
   * maps as libbpf does (`<name>.rodata`, first 8 characters). Default: the
   * file name up to its first dot, or `obj` for bytes.
   */
  name?: string;
}

/** A program of the object: one C function in an executable section other than `.text`. */
export interface ProgramSpec {
  /** The C function name. */
  readonly name: string;
  /** The ELF section (`SEC("...")`). */
  readonly section: string;
  /** The program type the section implies (`ProgType`), or undefined when the section follows no known convention. */
  readonly type: number | undefined;
  /** `expected_attach_type` sent at load. */
  readonly expectedAttachType: number;
  /** Program flags the section implies (`BPF_F_SLEEPABLE`, …). */
  readonly flags: number;
  /** Load this program (default true). Programs not loaded are absent from `BpfObject.programs`. */
  autoload: boolean;
  /** For tracing programs (fentry/fexit/fmod_ret/tp_btf/lsm/iter): the kernel function or hook, from the section by default. */
  attachTo: string | undefined;
  /** Number of instructions of the program itself (without the subprograms it calls). */
  readonly instructionCount: number;
}

/** A global variable of `.rodata*`, `.data*`, `.bss*`, typed from the section's BTF. */
export interface VariableSpec<T = unknown> {
  readonly name: string;
  /** The ELF section holding it. */
  readonly section: string;
  /** Byte offset in the section. */
  readonly offset: number;
  readonly size: number;
  /** The codec its BTF type gives (bytes when the type has none). */
  readonly type: Codec<T>;
  /** The value the object will be loaded with. */
  get(): T;
  /** Changes the value the object will be loaded with (`const volatile` configuration, initial counters). */
  set(value: T): void;
}

/** One function's instructions in its section (program or subprogram). */
export interface FuncRange {
  name: string;
  section: ElfSection;
  /** First instruction, counted from the start of the section. */
  start: number;
  count: number;
  isProgram: boolean;
}

/** An extern the object refers to. */
export interface ExternSpec {
  name: string;
  kind: 'kconfig' | 'ksym' | 'kfunc';
  weak: boolean;
  /** The VAR or FUNC type id in the object's BTF. */
  btfId: number;
  /** kconfig: the variable's type id (modifiers skipped), size, offset in `.kconfig`. */
  typeId: number;
  size: number;
  offset: number;
}

/** Internal state `load()` works from. */
export interface ObjectInternals {
  elf: ElfFile;
  btfRaw: Uint8Array | undefined;
  btf: BtfSpec | undefined;
  ext: BtfExt | undefined;
  /** Initial contents of each global-data map, by map name (`.rodata`, …). Written by `VariableSpec.set`. */
  data: Map<string, Uint8Array>;
  /** Global-data map name by ELF section index. */
  dataSections: Map<number, string>;
  /** Map name by (section index, symbol value) for `.maps` and `maps`. */
  mapAt: (section: number, offset: number) => MapSpec | undefined;
  /** Relocations of each code section by instruction index. */
  relocs: ReadonlyMap<number, ReadonlyMap<number, CodeReloc>>;
  funcs: FuncRange[];
  externs: Map<string, ExternSpec>;
  kconfigSize: number;
  license: string;
  version: number;
}

const INTERNALS: unique symbol = Symbol('ObjectSpec internals');

/** An object file read by `openObject`; change what it declares, then `load()`. */
export class ObjectSpec {
  /** The object's name (kernel names of global-data maps start with it). */
  readonly name: string;
  /** Maps by C name; global-data maps by section name (`.rodata`, `.data`, `.bss`, `.kconfig`, …). */
  readonly maps: Readonly<Record<string, MapSpec>>;
  /** Programs by C function name. */
  readonly programs: Readonly<Record<string, ProgramSpec>>;
  /** Global variables by C name. */
  readonly variables: Readonly<Record<string, VariableSpec>>;
  /** The `license` section's string (`''` when absent). */
  readonly license: string;
  /** @internal */
  readonly [INTERNALS]: ObjectInternals;

  /** @internal Not for direct use: see `openObject`. */
  constructor(
    name: string,
    maps: Record<string, MapSpec>,
    programs: Record<string, ProgramSpec>,
    variables: Record<string, VariableSpec>,
    internals: ObjectInternals,
  ) {
    this.name = name;
    this.maps = maps;
    this.programs = programs;
    this.variables = variables;
    this.license = internals.license;
    this[INTERNALS] = internals;
  }

  /**
   * Creates the maps, writes the global data, loads the programs: see `loadObject`.
   * @throws {ObjectError} naming the program, map or extern that failed and how far loading got;
   *   everything created before the failure is closed.
   */
  load(opts: LoadObjectOptions = {}): BpfObject {
    if (!loader) throw new Error('object loader not registered');
    return loader(this, opts);
  }
}

let loader: ((spec: ObjectSpec, opts: LoadObjectOptions) => BpfObject) | undefined;

/** @internal load.ts registers itself here (it imports this module; this one cannot import it back). */
export function registerLoader(fn: (spec: ObjectSpec, opts: LoadObjectOptions) => BpfObject): void {
  loader = fn;
}

/** @internal */
export function internalsOf(spec: ObjectSpec): ObjectInternals {
  return spec[INTERNALS];
}

function isDataSection(s: ElfSection): 'rodata' | 'data' | 'bss' | undefined {
  const has = (p: string) => s.name === p || s.name.startsWith(`${p}.`);
  if (s.type === SHT_PROGBITS && has('.rodata')) return 'rodata';
  if (s.type === SHT_PROGBITS && has('.data')) return 'data';
  if (s.type === SHT_NOBITS && has('.bss')) return 'bss';
  return undefined;
}

/** The BTF kinds a kconfig extern may have, as libbpf maps them. */
function kconfigCheck(types: readonly BtfType[], id: number, name: string): void {
  const t = typeAt(types, skipModifiers(types, id, name), name);
  const ok =
    t.kind === BtfKind.Int ||
    t.kind === BtfKind.Enum ||
    (t.kind === BtfKind.Array &&
      (() => {
        const e = typeAt(types, skipModifiers(types, t.elemType ?? 0, name), name);
        return e.kind === BtfKind.Int && e.size === 1;
      })());
  if (!ok)
    throw new ObjectError(
      `extern ${name}: a __kconfig extern must be an integer, bool, char, enum libbpf_tristate or char array, got ${BtfKind[t.kind]}`,
      { section: '.kconfig' },
    );
}

/**
 * Reads a BPF object file (a path or its bytes): sections, symbols, BTF, maps,
 * programs, variables, externs. Nothing reaches the kernel.
 * @throws {ObjectError} for anything malformed, naming the section and offset.
 * @throws {Error} (ENOENT, …) when the file cannot be read.
 */
export function openObject(source: string | Uint8Array, opts: OpenObjectOptions = {}): ObjectSpec {
  let bytes: Uint8Array;
  let defName = 'obj';
  if (typeof source === 'string') {
    bytes = readFileSync(source);
    defName = basename(source).split('.')[0] || 'obj';
  } else if (source instanceof Uint8Array) bytes = source;
  else throw new TypeError(`openObject takes a file path or a Uint8Array, got ${source === null ? 'null' : typeof source}`);
  const name = opts.name ?? defName;
  if (typeof name !== 'string') throw new TypeError('opts.name must be a string');
  const elf = new ElfFile(bytes);
  if (elf.fileType !== 1)
    throw new ObjectError(`expected a relocatable object (ET_REL, what clang -c emits), got ELF type ${elf.fileType}`, {
      offset: 16,
    });
  const symbols = elf.symbols();

  // BTF and BTF.ext.
  const btfSec = elf.section('.BTF');
  let btfRaw: Uint8Array | undefined;
  let btf: BtfSpec | undefined;
  if (btfSec) {
    btfRaw = elf.data(btfSec);
    try {
      btf = new BtfSpec(parseBtf(btfRaw));
    } catch (e) {
      throw new ObjectError(`the object's BTF is malformed: ${(e as Error).message}`, { section: '.BTF', cause: e });
    }
  }
  let ext: BtfExt | undefined;
  const extSec = elf.section('.BTF.ext');
  if (extSec && btfRaw) {
    try {
      ext = parseBtfExt(elf.data(extSec), btfRaw);
    } catch (e) {
      const x = e as { subsection?: string; offset?: number; message: string };
      throw new ObjectError(`the object's .BTF.ext is malformed${x.subsection ? ` (${x.subsection})` : ''}: ${x.message}`, {
        section: '.BTF.ext',
        offset: x.offset,
        cause: e,
      });
    }
  }

  const licSec = elf.section('license');
  const license = licSec
    ? Buffer.from(elf.data(licSec))
        .toString('latin1')
        .replace(/\0[\s\S]*$/, '')
    : '';
  const verSec = elf.section('version');
  let version = 0;
  if (verSec) {
    const d = elf.data(verSec);
    if (d.length !== 4)
      throw new ObjectError(`the version section must hold one u32, it has ${d.length} bytes`, { section: 'version' });
    version = new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true);
  }

  // Maps.
  const maps = new Map<string, MutableMapSpec>();
  const mapSection = new Map<number, MutableMapSpec[]>();
  for (const s of elf.sections) {
    if (s.name === '.maps') readBtfMaps(elf, s, btf, maps);
    else if (s.name === 'maps') readLegacyMaps(elf, s, maps);
  }
  for (const m of maps.values()) {
    const sec = elf.section(m.section)!;
    const list = mapSection.get(sec.index) ?? [];
    list.push(m);
    mapSection.set(sec.index, list);
  }

  // Global data: one array map per non-empty section, and its variables.
  const data = new Map<string, Uint8Array>();
  const dataSections = new Map<number, string>();
  const variables: Record<string, VariableSpec> = Object.create(null); // keyed by ELF names: no Object.prototype members
  for (const s of elf.sections) {
    const kind = isDataSection(s);
    if (!kind || s.size === 0) continue;
    const ds = btf ? findDatasec(btf.types, s.name) : undefined;
    let flags = kind === 'rodata' ? BPF_F_RDONLY_PROG : 0;
    const init = elf.data(s).slice(); // checked against the file (NOBITS: a size limit)
    data.set(s.name, init);
    dataSections.set(s.index, s.name);
    const secSyms = new Map<string, ElfSymbol>();
    for (const sym of symbols) if (sym.shndx === s.index && sym.type !== STT_SECTION && sym.name) secSyms.set(sym.name, sym);
    let exposed = false;
    if (ds && btf) {
      for (const vsi of ds.vars ?? []) {
        const vt = typeAt(btf.types, vsi.type, `the ${s.name} DATASEC`);
        if (vt.kind !== BtfKind.Var || vt.linkage === 0) continue;
        exposed = true;
        const sym = secSyms.get(vt.name);
        if (!sym || vsi.size === 0) continue;
        if (sym.value > s.size || vsi.size > s.size - sym.value)
          throw new ObjectError(
            `variable ${vt.name} (${vsi.size} bytes at ${sym.value}) runs past the section's ${s.size} bytes`,
            {
              section: s.name,
              offset: sym.value,
            },
          );
        let codec: Codec<unknown>;
        try {
          codec = btf.codec(vt.type ?? 0, vt.name);
          if (codec.size !== vsi.size) codec = array('u8', vsi.size) as Codec<unknown>;
          // Hostile BTF can describe members outside their struct: such a codec cannot read its own size.
          codec.decode(new Uint8Array(vsi.size));
        } catch (e) {
          if (!(e instanceof BtfCodecError) && !(e instanceof RangeError)) throw e;
          codec = array('u8', vsi.size) as Codec<unknown>;
        }
        if (variables[vt.name] !== undefined)
          throw new ObjectError(`two global variables are named ${vt.name}`, { section: s.name, offset: sym.value });
        variables[vt.name] = makeVariable(vt.name, s.name, sym.value, codec, () => data.get(s.name)!);
      }
    }
    if (exposed) flags |= BPF_F_MMAPABLE;
    const m: MutableMapSpec = {
      name: s.name,
      kernelName: dataMapName(name, s.name),
      section: s.name,
      origin: 'data',
      type: MapType.Array,
      keySize: 4,
      valueSize: s.size,
      maxEntries: 1,
      flags,
      pinning: 0,
      numaNode: 0,
      mapExtra: 0n,
      btfKeyTypeId: 0,
      btfValueTypeId: ds?.id ?? 0,
      inner: undefined,
      initSlots: new Map(),
      offset: 0,
    };
    if (maps.has(m.name)) throw new ObjectError(`a map is named like the section ${m.name}`, { section: s.name });
    maps.set(m.name, m);
  }

  // Externs: undefined global symbols, described by BTF VARs/FUNCs in .kconfig or .ksyms.
  const externs = new Map<string, ExternSpec>();
  const externSecOf = new Map<number, string>();
  if (btf)
    for (const t of btf.types)
      if (t.kind === BtfKind.Datasec && (t.name === '.kconfig' || t.name === '.ksyms'))
        for (const v of t.vars ?? []) externSecOf.set(v.type, t.name);
  for (const sym of symbols) {
    if (sym.shndx !== SHN_UNDEF || sym.name === '' || (sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK)) continue;
    if (!btf)
      throw new ObjectError(`extern ${sym.name} needs BTF to be resolved (compile with clang -g)`, { section: '.symtab' });
    const id = btf.types.findIndex((t) => t.name === sym.name && (t.kind === BtfKind.Var || t.kind === BtfKind.Func)) + 1;
    if (id === 0) throw new ObjectError(`extern ${sym.name} has no BTF VAR or FUNC describing it`, { section: '.BTF' });
    const t = btf.types[id - 1]!;
    const sec = externSecOf.get(id);
    let kind: ExternSpec['kind'];
    if (sec === '.kconfig') {
      if (t.kind !== BtfKind.Var)
        throw new ObjectError(`extern function ${sym.name} cannot be __kconfig`, { section: '.kconfig' });
      kind = 'kconfig';
    } else if (t.kind === BtfKind.Func) kind = 'kfunc';
    else if (sec === '.ksyms') kind = 'ksym';
    else
      throw new ObjectError(
        `extern ${sym.name} is neither __kconfig nor __ksym (its BTF VAR is in no .kconfig or .ksyms DATASEC)`,
        {
          section: '.BTF',
        },
      );
    const e: ExternSpec = { name: sym.name, kind, weak: sym.bind === STB_WEAK, btfId: id, typeId: 0, size: 0, offset: 0 };
    if (kind === 'kconfig') {
      e.typeId = skipModifiers(btf.types, t.type ?? 0, sym.name);
      kconfigCheck(btf.types, e.typeId, sym.name);
      e.size = btf.sizeOf(e.typeId);
    }
    externs.set(sym.name, e);
  }
  // .kconfig layout: by alignment (largest first), then size, then name, as libbpf lays it out.
  const kcfg = [...externs.values()].filter((e) => e.kind === 'kconfig');
  let kconfigSize = 0;
  if (kcfg.length > 0 && btf) {
    const align = new Map(kcfg.map((e) => [e, alignOf(btf!.types, e.typeId, e.name)]));
    kcfg.sort((a, b) => align.get(b)! - align.get(a)! || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of kcfg) {
      const a = align.get(e)!;
      e.offset = Math.ceil(kconfigSize / a) * a;
      kconfigSize = e.offset + e.size;
    }
    const ds = findDatasec(btf.types, '.kconfig');
    maps.set('.kconfig', {
      name: '.kconfig',
      kernelName: dataMapName(name, '.kconfig'),
      section: '.kconfig',
      origin: 'kconfig',
      type: MapType.Array,
      keySize: 4,
      valueSize: kconfigSize,
      maxEntries: 1,
      flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
      pinning: 0,
      numaNode: 0,
      mapExtra: 0n,
      btfKeyTypeId: 0,
      btfValueTypeId: ds?.id ?? 0,
      inner: undefined,
      initSlots: new Map(),
      offset: 0,
    });
  }

  // Programs and subprograms: the FUNC symbols of executable sections.
  const funcs: FuncRange[] = [];
  const programs: Record<string, ProgramSpec> = Object.create(null); // keyed by ELF names: no Object.prototype members
  for (const s of elf.sections) {
    if (s.type !== SHT_PROGBITS || !(s.flags & SHF_EXECINSTR) || s.size === 0) continue;
    if (s.size % 8 !== 0)
      throw new ObjectError(`an executable section of ${s.size} bytes is not a whole number of 8-byte instructions`, {
        section: s.name,
        offset: s.size - (s.size % 8),
      });
    const isText = s.name === '.text';
    const fsyms = symbols.filter((x) => x.shndx === s.index && x.type === STT_FUNC).sort((a, b) => a.value - b.value);
    for (const f of fsyms) {
      if (f.value % 8 !== 0 || f.size % 8 !== 0 || f.value > s.size || f.size > s.size - f.value)
        throw new ObjectError(`function ${f.name} (${f.size} bytes at ${f.value}) is not whole instructions inside the section`, {
          section: s.name,
          offset: f.value,
        });
      if (f.size === 0) continue;
      funcs.push({ name: f.name, section: s, start: f.value / 8, count: f.size / 8, isProgram: !isText });
      if (isText) continue;
      if (programs[f.name] !== undefined)
        throw new ObjectError(`two programs are named ${f.name}`, { section: s.name, offset: f.value });
      // libbpf's convention: a section name starting with `?` holds programs not loaded by default.
      const optional = s.name.startsWith('?');
      const k: SectionKind | undefined = sectionKind(optional ? s.name.slice(1) : s.name);
      programs[f.name] = {
        name: f.name,
        section: s.name,
        type: k?.type,
        expectedAttachType: k?.expectedAttachType ?? 0,
        flags: k?.flags ?? 0,
        autoload: !optional,
        attachTo: k?.btfAttach && k.target ? k.target : undefined,
        instructionCount: f.size / 8,
      };
    }
  }

  const mapAt = (section: number, offset: number): MapSpec | undefined =>
    mapSection.get(section)?.find((m) => m.offset === offset);
  // Checked now, so a malformed object fails here rather than at load.
  const relocs = collectRelocations(elf, mapAt, dataSections, externs);
  const internals: ObjectInternals = {
    elf,
    btfRaw,
    btf,
    ext,
    data,
    dataSections,
    mapAt,
    relocs,
    funcs,
    externs,
    kconfigSize,
    license,
    version,
  };
  return new ObjectSpec(name, Object.assign(Object.create(null), Object.fromEntries(maps)), programs, variables, internals);
}

function makeVariable(
  name: string,
  section: string,
  offset: number,
  codec: Codec<unknown>,
  bytes: () => Uint8Array,
): VariableSpec {
  return Object.freeze({
    name,
    section,
    offset,
    size: codec.size,
    type: codec,
    get: () => decodeWith(codec, bytes(), offset),
    set: (value: unknown) => {
      const b = bytes();
      codec.encode(value, b, offset);
    },
  });
}
