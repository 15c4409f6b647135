/**
 * What `bpfmap gen` reads from an object file: its BTF types, its maps (the
 * `.maps` section's definitions, with the BTF ids of key and value), its global
 * variables (each data section's BTF, at the offsets the symbol table gives,
 * since clang leaves them 0 in BTF) and its programs. Nothing reaches the kernel.
 */
import { BtfKind } from '../btf/kinds.js';
import { type BtfType, parseBtf } from '../btf/parse.js';
import { ElfFile, SHF_EXECINSTR, SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_OBJECT } from '../elf/elf.js';
import { ObjectError } from '../elf/error.js';
import { MapType } from '../sys/uapi.js';

/** One map of the object, as its definition gives it. */
export interface GenMap {
  name: string;
  type: number;
  /** BTF type ids of key and value (0: none, e.g. `__uint(key_size, 4)`). */
  keyId: number;
  valueId: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** `.maps` (BTF-defined) or `maps` (legacy, no types). */
  section: string;
}

/** One global variable. */
export interface GenVariable {
  name: string;
  section: string;
  offset: number;
  size: number;
  typeId: number;
}

/** One program: a C function in an executable section other than `.text`. */
export interface GenProgram {
  name: string;
  section: string;
}

/** Everything the generator needs from one object. */
export interface GenInputs {
  types: readonly BtfType[];
  maps: GenMap[];
  variables: GenVariable[];
  programs: GenProgram[];
}

const MODIFIERS = new Set([BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);

function typeAt(types: readonly BtfType[], id: number, what: string): BtfType {
  const t = types[id - 1];
  if (t === undefined) throw new ObjectError(`${what}: BTF type id ${id} does not exist`, { section: '.BTF' });
  return t;
}

function skip(types: readonly BtfType[], id: number, what: string): BtfType {
  let t = typeAt(types, id, what);
  for (let n = 0; MODIFIERS.has(t.kind); n++) {
    if (n > types.length) throw new ObjectError(`${what}: a cycle of typedefs in the BTF`, { section: '.BTF' });
    t = typeAt(types, t.type ?? 0, what);
  }
  return t;
}

/** Reads maps, variables and programs of an ELF BPF object. @throws {ObjectError} without `.BTF` or for malformed input. */
export function readInputs(bytes: Uint8Array): GenInputs {
  const elf = new ElfFile(bytes);
  const btfSec = elf.section('.BTF');
  if (!btfSec) throw new ObjectError('the object has no .BTF section: compile it with clang -g so its types are known', {});
  const types = parseBtf(elf.data(btfSec));
  const syms = elf.symbols();
  const symbolIn = (section: string, name: string) => {
    const sec = elf.section(section);
    return sec ? syms.find((s) => s.shndx === sec.index && s.name === name && s.type !== STT_FUNC) : undefined;
  };

  const maps: GenMap[] = [];
  const datasecs = types.filter((t) => t.kind === BtfKind.Datasec);
  const mapsSec = datasecs.find((t) => t.name === '.maps');
  for (const v of mapsSec?.vars ?? []) {
    const vt = typeAt(types, v.type, '.maps');
    if (vt.kind !== BtfKind.Var) continue;
    const what = `map ${vt.name}`;
    const def = skip(types, vt.type ?? 0, what);
    if (def.kind !== BtfKind.Struct) continue;
    const m: GenMap = { name: vt.name, type: 0, keyId: 0, valueId: 0, keySize: 0, valueSize: 0, maxEntries: 0, section: '.maps' };
    for (const mem of def.members ?? []) {
      const ptr = skip(types, mem.type, `${what}.${mem.name}`);
      if (ptr.kind !== BtfKind.Ptr) continue;
      const to = ptr.type ?? 0;
      const uint = () => {
        const arr = to ? skip(types, to, `${what}.${mem.name}`) : undefined;
        return arr?.kind === BtfKind.Array ? (arr.nelems ?? 0) : 0;
      };
      if (mem.name === 'type') m.type = uint();
      else if (mem.name === 'max_entries') m.maxEntries = uint();
      else if (mem.name === 'key_size') m.keySize = uint();
      else if (mem.name === 'value_size') m.valueSize = uint();
      else if (mem.name === 'key') m.keyId = to;
      else if (mem.name === 'value') m.valueId = to;
    }
    maps.push(m);
  }
  // Legacy `struct bpf_map_def` maps: sizes only.
  const legacy = elf.section('maps');
  if (legacy) {
    const data = elf.data(legacy);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (const s of syms) {
      if (s.shndx !== legacy.index || s.type !== STT_OBJECT || s.value + 16 > data.length) continue;
      const at = s.value;
      maps.push({
        name: s.name,
        type: dv.getUint32(at, true),
        keyId: 0,
        valueId: 0,
        keySize: dv.getUint32(at + 4, true),
        valueSize: dv.getUint32(at + 8, true),
        maxEntries: dv.getUint32(at + 12, true),
        section: 'maps',
      });
    }
  }

  const variables: GenVariable[] = [];
  const isData = (n: string) => /^\.(rodata|data|bss)(\.|$)/.test(n);
  for (const sec of datasecs) {
    if (!isData(sec.name)) continue;
    for (const v of sec.vars ?? []) {
      const vt = typeAt(types, v.type, sec.name);
      if (vt.kind !== BtfKind.Var || vt.name === '') continue;
      const sym = symbolIn(sec.name, vt.name);
      variables.push({
        name: vt.name,
        section: sec.name,
        offset: sym ? sym.value : v.offset,
        size: v.size,
        typeId: vt.type ?? 0,
      });
    }
  }
  variables.sort((a, b) => (a.section === b.section ? a.offset - b.offset : a.section < b.section ? -1 : 1));

  const programs: GenProgram[] = [];
  for (const s of syms) {
    if (s.type !== STT_FUNC || (s.bind !== STB_GLOBAL && s.bind !== STB_WEAK) || s.shndx === SHN_UNDEF) continue;
    const sec = elf.sections[s.shndx];
    if (!sec || !(sec.flags & SHF_EXECINSTR) || sec.name === '.text') continue;
    programs.push({ name: s.name, section: sec.name });
  }
  return { types, maps, variables, programs };
}

/** The kernel's name of a map type: `BPF_MAP_TYPE_HASH`. */
export function mapTypeName(type: number): string {
  const n = MapType[type];
  if (n === undefined) return `map type ${type}`;
  return `BPF_MAP_TYPE_${n.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}
