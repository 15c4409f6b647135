/**
 * Map definitions of an object file: BTF-defined maps (the `.maps` section,
 * `__uint`/`__type`/`__array` members of an anonymous struct per map) and the
 * legacy `maps` section (`struct bpf_map_def`, one per symbol).
 */
import { ObjectError } from '../elf/error.js';
import { type ElfFile, type ElfSection, type ElfSymbol, STT_SECTION } from '../elf/elf.js';
import { BtfKind } from '../btf/kinds.js';
import type { BtfSpec } from '../btf/codecs.js';
import type { BtfType } from '../btf/parse.js';
import { MapType } from '../sys/uapi.js';
import { findDatasec, skipModifiers, typeAt } from './btf-util.js';

/** `LIBBPF_PIN_NONE` / `LIBBPF_PIN_BY_NAME`. */
export const PIN_NONE = 0;
export const PIN_BY_NAME = 1;

/** Where a map comes from. */
export type MapOrigin = 'btf' | 'legacy' | 'data' | 'kconfig';

/** A map as the object declares it; `type`, `maxEntries` and `flags` may be changed before load. */
export interface MapSpec {
  /** The C name (`.maps`, `maps`), or the section name for global data (`.rodata`, `.bss`, `.kconfig`). */
  readonly name: string;
  /** The name the kernel gets (at most 15 characters; libbpf's naming for global data). */
  readonly kernelName: string;
  /** The ELF section it is declared in. */
  readonly section: string;
  readonly origin: MapOrigin;
  /** `MapType`; may be changed before load. */
  type: number;
  readonly keySize: number;
  readonly valueSize: number;
  /** May be changed before load. */
  maxEntries: number;
  /** `BPF_F_*` map flags; may be changed before load. */
  flags: number;
  /** `LIBBPF_PIN_BY_NAME` (1) or none (0). */
  readonly pinning: number;
  readonly numaNode: number;
  readonly mapExtra: bigint;
  /** BTF ids of the key and value in the object's BTF (0: none). */
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
  /** Map-in-map: the inner map's definition (created as the template). */
  readonly inner: MapSpec | undefined;
  /** `__array(values, …)` initialisers: slot → map name (map-in-map) or program name (prog array). */
  readonly initSlots: ReadonlyMap<number, string>;
  /** Byte offset of the definition in its section (symbol value). */
  readonly offset: number;
}

/** A mutable map spec while building. */
export type MutableMapSpec = { -readonly [K in keyof MapSpec]: MapSpec[K] } & { initSlots: Map<number, string> };

/** The kernel's name for a map: at most 15 of `A-Za-z0-9_.`, others replaced by `_`. */
export function kernelMapName(name: string): string {
  return name.slice(0, 15).replace(/[^A-Za-z0-9_.]/g, '_');
}

function intField(types: readonly BtfType[], map: string, m: { name: string; type: number }): number {
  const what = `map ${map}: field ${m.name}`;
  const ptr = typeAt(types, skipModifiers(types, m.type, what), what);
  if (ptr.kind !== BtfKind.Ptr)
    throw new ObjectError(`${what} must be declared with __uint() (a pointer to an array), got ${BtfKind[ptr.kind]}`, {
      section: '.maps',
      map,
    });
  const arr = typeAt(types, skipModifiers(types, ptr.type ?? 0, what), what);
  if (arr.kind !== BtfKind.Array)
    throw new ObjectError(
      `${what} must be declared with __uint() (a pointer to an array), got a pointer to ${BtfKind[arr.kind]}`,
      {
        section: '.maps',
        map,
      },
    );
  return arr.nelems ?? 0;
}

interface ParsedDef {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  pinning: number;
  mapExtra: bigint;
  keyTypeId: number;
  valueTypeId: number;
  inner: ParsedDef | undefined;
  /** Byte offset of the `values` member in the definition, when there is one. */
  valuesOffset: number | undefined;
  hasValues: boolean;
}

const MAP_IN_MAP = new Set<number>([MapType.ArrayOfMaps, MapType.HashOfMaps]);

function parseDef(spec: BtfSpec, defId: number, map: string, inner: boolean): ParsedDef {
  const types = spec.types;
  const what = `map ${map}`;
  const def = typeAt(types, skipModifiers(types, defId, what), what);
  if (def.kind !== BtfKind.Struct)
    throw new ObjectError(`${what}: a BTF-defined map must be a struct, got ${BtfKind[def.kind]}`, { section: '.maps', map });
  const d: ParsedDef = {
    type: 0,
    keySize: 0,
    valueSize: 0,
    maxEntries: 0,
    flags: 0,
    numaNode: 0,
    pinning: 0,
    mapExtra: 0n,
    keyTypeId: 0,
    valueTypeId: 0,
    inner: undefined,
    valuesOffset: undefined,
    hasValues: false,
  };
  const size = (id: number, side: string): number => {
    try {
      return spec.sizeOf(id);
    } catch (e) {
      throw new ObjectError(`${what}: the ${side} type has no size (${(e as Error).message})`, { section: '.maps', map });
    }
  };
  for (const m of def.members ?? []) {
    switch (m.name) {
      case 'type':
        d.type = intField(types, map, m);
        break;
      case 'max_entries':
        d.maxEntries = intField(types, map, m);
        break;
      case 'map_flags':
        d.flags = intField(types, map, m);
        break;
      case 'numa_node':
        d.numaNode = intField(types, map, m);
        break;
      case 'pinning':
        if (inner) throw new ObjectError(`${what}: an inner map cannot be pinned`, { section: '.maps', map });
        d.pinning = intField(types, map, m);
        if (d.pinning !== PIN_NONE && d.pinning !== PIN_BY_NAME)
          throw new ObjectError(`${what}: pinning must be LIBBPF_PIN_NONE (0) or LIBBPF_PIN_BY_NAME (1), got ${d.pinning}`, {
            section: '.maps',
            map,
          });
        break;
      case 'map_extra':
        d.mapExtra = BigInt(intField(types, map, m));
        break;
      case 'key_size':
      case 'value_size': {
        const side = m.name === 'key_size' ? 'key' : 'value';
        const n = intField(types, map, m);
        const had = side === 'key' ? d.keySize : d.valueSize;
        if (had && had !== n)
          throw new ObjectError(`${what}: ${m.name} ${n} disagrees with the ${side} type's size ${had}`, {
            section: '.maps',
            map,
          });
        if (side === 'key') d.keySize = n;
        else d.valueSize = n;
        break;
      }
      case 'key':
      case 'value': {
        const ptr = typeAt(types, skipModifiers(types, m.type, what), what);
        if (ptr.kind !== BtfKind.Ptr)
          throw new ObjectError(`${what}: field ${m.name} must be declared with __type() (a pointer), got ${BtfKind[ptr.kind]}`, {
            section: '.maps',
            map,
          });
        const id = ptr.type ?? 0;
        const n = size(id, m.name);
        const had = m.name === 'key' ? d.keySize : d.valueSize;
        if (had && had !== n)
          throw new ObjectError(`${what}: the ${m.name} type's size ${n} disagrees with ${m.name}_size ${had}`, {
            section: '.maps',
            map,
          });
        if (m.name === 'key') {
          d.keySize = n;
          d.keyTypeId = id;
        } else {
          d.valueSize = n;
          d.valueTypeId = id;
        }
        break;
      }
      case 'values': {
        if (inner) throw new ObjectError(`${what}: inner maps of inner maps are not supported`, { section: '.maps', map });
        const arr = typeAt(types, skipModifiers(types, m.type, what), what);
        if (arr.kind !== BtfKind.Array)
          throw new ObjectError(`${what}: field values must be declared with __array() (an array), got ${BtfKind[arr.kind]}`, {
            section: '.maps',
            map,
          });
        const ptr = typeAt(types, skipModifiers(types, arr.elemType ?? 0, what), what);
        if (ptr.kind !== BtfKind.Ptr)
          throw new ObjectError(`${what}: values must be an array of pointers, got an array of ${BtfKind[ptr.kind]}`, {
            section: '.maps',
            map,
          });
        d.hasValues = true;
        d.valuesOffset = m.bitOffset / 8;
        const target = typeAt(types, skipModifiers(types, ptr.type ?? 0, what), what);
        if (target.kind === BtfKind.Struct) d.inner = parseDef(spec, ptr.type ?? 0, `${map}.inner`, true);
        else if (target.kind !== BtfKind.FuncProto)
          throw new ObjectError(
            `${what}: values must point to an inner map definition (map-in-map) or a function prototype (prog array), got ${BtfKind[target.kind]}`,
            { section: '.maps', map },
          );
        if (d.valueSize && d.valueSize !== 4)
          throw new ObjectError(`${what}: a map with values holds 4-byte ids or fds, not value_size ${d.valueSize}`, {
            section: '.maps',
            map,
          });
        d.valueSize = 4;
        break;
      }
      default:
        throw new ObjectError(`${what}: unknown field ${m.name || '(anonymous)'} in its definition`, { section: '.maps', map });
    }
  }
  if (d.hasValues && d.inner && !MAP_IN_MAP.has(d.type))
    throw new ObjectError(`${what}: an inner map definition needs an array or hash of maps, got type ${d.type}`, {
      section: '.maps',
      map,
    });
  if (d.hasValues && !d.inner && d.type !== MapType.ProgArray)
    throw new ObjectError(`${what}: function values need a BPF_MAP_TYPE_PROG_ARRAY, got type ${d.type}`, {
      section: '.maps',
      map,
    });
  return d;
}

function toSpec(d: ParsedDef, name: string, section: string, origin: MapOrigin, offset: number): MutableMapSpec {
  return {
    name,
    kernelName: kernelMapName(name),
    section,
    origin,
    type: d.type,
    keySize: d.keySize,
    valueSize: d.valueSize,
    maxEntries: d.maxEntries,
    flags: d.flags,
    pinning: d.pinning,
    numaNode: d.numaNode,
    mapExtra: d.mapExtra,
    btfKeyTypeId: d.keyTypeId,
    btfValueTypeId: d.valueTypeId,
    inner: d.inner ? toSpec(d.inner, `${name}.inner`, section, origin, offset) : undefined,
    initSlots: new Map(),
    offset,
  };
}

/** The BTF-defined maps of `.maps`, with their initialisers from `.rel.maps`. */
export function readBtfMaps(elf: ElfFile, sec: ElfSection, spec: BtfSpec | undefined, out: Map<string, MutableMapSpec>): void {
  if (spec === undefined)
    throw new ObjectError('the object has a .maps section but no .BTF to describe its maps (compile with clang -g)', {
      section: sec.name,
    });
  const ds = findDatasec(spec.types, sec.name);
  if (ds === undefined) throw new ObjectError('no DATASEC in .BTF describes this section', { section: sec.name });
  const syms = elf.symbols().filter((s) => s.shndx === sec.index && s.type !== STT_SECTION && s.name !== '');
  const byName = new Map(syms.map((s) => [s.name, s]));
  const byOffset: { start: number; end: number; map: MutableMapSpec; valuesOffset: number | undefined }[] = [];
  for (const vsi of ds.vars ?? []) {
    const v = typeAt(spec.types, vsi.type, `the ${sec.name} DATASEC`);
    if (v.kind !== BtfKind.Var) throw new ObjectError(`DATASEC member ${vsi.type} is not a VAR`, { section: '.BTF' });
    const sym = byName.get(v.name);
    if (sym === undefined) throw new ObjectError(`map ${v.name} has no symbol in the symbol table`, { section: sec.name });
    if (sym.value > sec.size)
      throw new ObjectError(`map ${v.name}'s symbol is at offset ${sym.value}, past the section's ${sec.size} bytes`, {
        section: sec.name,
        offset: sym.value,
      });
    const d = parseDef(spec, v.type ?? 0, v.name, false);
    const map = toSpec(d, v.name, sec.name, 'btf', sym.value);
    if (out.has(map.name)) throw new ObjectError(`two maps are named ${map.name}`, { section: sec.name, offset: sym.value });
    out.set(map.name, map);
    byOffset.push({ start: sym.value, end: sym.value + Math.max(vsi.size, sym.size), map, valuesOffset: d.valuesOffset });
  }
  // `__array(values, …) = { [2] = &other }`: one R_BPF_64_ABS64 per slot at the slot's address.
  const symbols = elf.symbols();
  for (const rel of elf.relocationSectionsFor(sec)) {
    const relocs = elf.relocations(rel);
    relocs.forEach((r, i) => {
      const where = { section: rel.name, offset: i * 16 };
      const holder = byOffset.find((m) => r.offset >= m.start && r.offset < m.end);
      if (holder === undefined)
        throw new ObjectError(`relocation at .maps offset ${r.offset} is inside no map definition`, where);
      if (holder.valuesOffset === undefined)
        throw new ObjectError(`relocation at .maps offset ${r.offset} in map ${holder.map.name}, which has no values`, where);
      const rel0 = r.offset - holder.start - holder.valuesOffset;
      if (rel0 < 0 || rel0 % 8 !== 0)
        throw new ObjectError(`relocation at .maps offset ${r.offset} is not on a slot of ${holder.map.name}'s values`, where);
      const sym = symbols[r.symbol] as ElfSymbol;
      if (sym.name === '') throw new ObjectError(`relocation ${i} names a symbol without a name`, where);
      holder.map.initSlots.set(rel0 / 8, sym.name);
    });
  }
}

/** Legacy `struct bpf_map_def` maps of the `maps` section: one per symbol, sized by the symbols. */
export function readLegacyMaps(elf: ElfFile, sec: ElfSection, out: Map<string, MutableMapSpec>): void {
  const data = elf.data(sec);
  const syms = elf
    .symbols()
    .filter((s) => s.shndx === sec.index && s.type !== STT_SECTION && s.name !== '')
    .sort((a, b) => a.value - b.value);
  if (syms.length === 0) return;
  const even = Math.floor(sec.size / syms.length);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (const s of syms) {
    const size = s.size || even;
    if (size < 20 || s.value > data.length || size > data.length - s.value)
      throw new ObjectError(
        `map ${s.name}: a bpf_map_def needs at least 20 bytes inside the section, got ${size} bytes at offset ${s.value} of ${data.length}`,
        { section: sec.name, offset: s.value, map: s.name },
      );
    const o = s.value;
    const d: ParsedDef = {
      type: v.getUint32(o, true),
      keySize: v.getUint32(o + 4, true),
      valueSize: v.getUint32(o + 8, true),
      maxEntries: v.getUint32(o + 12, true),
      flags: v.getUint32(o + 16, true),
      // aya and iproute2 layouts carry `id` then `pinning` after the five libbpf fields.
      pinning: size >= 28 ? v.getUint32(o + 24, true) : 0,
      numaNode: 0,
      mapExtra: 0n,
      keyTypeId: 0,
      valueTypeId: 0,
      inner: undefined,
      valuesOffset: undefined,
      hasValues: false,
    };
    if (d.pinning !== PIN_NONE && d.pinning !== PIN_BY_NAME)
      throw new ObjectError(`map ${s.name}: pinning must be 0 or 1 (by name), got ${d.pinning}`, {
        section: sec.name,
        offset: o + 24,
      });
    if (out.has(s.name)) throw new ObjectError(`two maps are named ${s.name}`, { section: sec.name, offset: o });
    out.set(s.name, toSpec(d, s.name, sec.name, 'legacy', o));
  }
}

/** libbpf's kernel name of a global-data map: part of the object name, then the section name. */
export function dataMapName(objName: string, section: string): string {
  const suffix = Math.min(Math.max(7, section.length), 15);
  const prefix = section.indexOf('.', 1) >= 0 ? 0 : Math.min(15 - suffix, objName.length);
  return kernelMapName(objName.slice(0, prefix) + section.slice(0, suffix));
}
