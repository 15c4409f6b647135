/**
 * Where a map's key and value fields sit, from the map's BTF: each field as an offset, a size and
 * what it holds, and readers that take numbers straight from a batch's bytes (no record is decoded
 * per entry: a scrape of a large map reads only the fields its metrics use).
 */
import { readBtf } from '../api.js';
import type { BpfMap, Codec } from '../api.js';

/** What a field holds, as far as metrics care. */
export type FieldKind = 'uint' | 'int' | 'float' | 'bool' | 'chars' | 'bytes' | 'array' | 'struct';

/** A field of a key or value: where it is and what it holds. */
export interface FieldInfo {
  /** The path as written in the config (`comm`, `addr.v4`), or `(key)`/`(value)` for the whole side. */
  path: string;
  offset: number;
  size: number;
  kind: FieldKind;
  /** The C type, for messages. */
  cType: string;
  /** Big-endian integers (`__be32`, …). */
  bigEndian?: boolean;
  /** Arrays: the element. */
  element?: FieldInfo;
  /** Arrays: how many elements. */
  length?: number;
  /** Structs: the member names (for messages). */
  members?: readonly string[];
}

/** One side (key or value) of a map: its codec from BTF when it has one. */
export interface SideLayout {
  side: 'key' | 'value';
  size: number;
  /** The codec from the map's BTF; undefined when the map has no BTF for this side. */
  codec?: Codec<unknown>;
}

/** The key and value layouts of a map. */
export interface MapLayout {
  key: SideLayout;
  value: SideLayout;
}

/** The key and value codecs of `map` from its BTF (either may be missing). */
export function mapLayout(map: BpfMap): MapLayout {
  const info = map.info();
  let key: Codec<unknown> | undefined;
  let value: Codec<unknown> | undefined;
  if (info.btfId !== 0) {
    const spec = readBtf(info.btfId);
    if (info.btfKeyTypeId !== 0) key = spec.codec(info.btfKeyTypeId, 'key');
    if (info.btfValueTypeId !== 0) value = spec.codec(info.btfValueTypeId, 'value');
  }
  return {
    key: { side: 'key', size: map.keySize, ...(key ? { codec: key } : {}) },
    value: { side: 'value', size: map.valueSize, ...(value ? { codec: value } : {}) },
  };
}

interface CodecLike {
  kind: string;
  name: string;
  size: number;
  fields?: readonly { name: string; offset: number; size: number; type: unknown; bitOffset?: number }[];
  element?: unknown;
  length?: number;
  signed?: boolean;
}

function describe(c: CodecLike, path: string, offset: number): FieldInfo {
  const base = { path, offset, size: c.size, cType: c.name };
  switch (c.kind) {
    case 'scalar': {
      if (c.name === 'bool') return { ...base, kind: 'bool' };
      if (c.name === 'f32' || c.name === 'f64') return { ...base, kind: 'float' };
      if (c.name.startsWith('be')) return { ...base, kind: 'uint', bigEndian: true };
      return { ...base, kind: c.name.startsWith('i') ? 'int' : 'uint' };
    }
    case 'enum':
      return { ...base, kind: c.signed ? 'int' : 'uint' };
    case 'cstring':
      return { ...base, kind: 'chars', length: c.length ?? c.size };
    case 'array': {
      const el = describe(c.element as CodecLike, `${path}[]`, 0);
      if (el.kind === 'uint' && el.size === 1) return { ...base, kind: 'bytes', element: el, length: c.length ?? c.size };
      return { ...base, kind: 'array', element: el, length: c.length ?? 0 };
    }
    case 'struct':
    case 'union':
      // A 16-byte union of byte/word arrays (struct in6_addr's in6_u) still reads as bytes for ipv6.
      return { ...base, kind: 'struct', members: (c.fields ?? []).map((f) => f.name) };
    default:
      return { ...base, kind: 'bytes' };
  }
}

/** The whole side as a field (no BTF: an unsigned integer of its size when it has one, else bytes). */
export function wholeSide(side: SideLayout): FieldInfo {
  const path = `(${side.side})`;
  if (side.codec) return describe(side.codec as unknown as CodecLike, path, 0);
  const isInt = side.size === 1 || side.size === 2 || side.size === 4 || side.size === 8;
  return {
    path,
    offset: 0,
    size: side.size,
    kind: isInt ? 'uint' : 'bytes',
    cType: isInt ? `u${side.size * 8}` : `u8[${side.size}]`,
  };
}

/**
 * Finds `path` (`a` or `a.b`) in one side of a map.
 * @returns the field, or a problem message saying what the side has.
 */
export function findField(side: SideLayout, path: string): FieldInfo | string {
  if (!side.codec)
    return `the map has no BTF for its ${side.side}, so it has no field ${JSON.stringify(path)} (leave field out to use the whole ${side.side})`;
  let c = side.codec as unknown as CodecLike;
  let offset = 0;
  const parts = path.split('.');
  for (const [i, part] of parts.entries()) {
    const here = parts.slice(0, i).join('.');
    if (c.kind !== 'struct' && c.kind !== 'union')
      return `${here ? `${side.side} field ${JSON.stringify(here)}` : `the ${side.side}`} is ${c.name}, not a struct: it has no field ${JSON.stringify(part)}`;
    const f = (c.fields ?? []).find((x) => x.name === part);
    if (!f)
      return `unknown ${side.side} field ${JSON.stringify(parts.slice(0, i + 1).join('.'))} (${c.name} has ${(c.fields ?? []).map((x) => x.name).join(', ') || 'no fields'})`;
    if (f.bitOffset !== undefined)
      return `${side.side} field ${JSON.stringify(path)} is a bitfield: not supported as a metric field`;
    offset += f.offset;
    c = f.type as CodecLike;
  }
  return describe(c, path, offset);
}

/** Reads a number from `view` at `base` (precision above 2^53 is a double's, as Prometheus keeps it). */
export type NumberReader = (view: DataView, base: number) => number;

/** A reader of an integer, float or bool field as a number; undefined for other kinds. */
export function numberReader(f: FieldInfo): NumberReader | undefined {
  const o = f.offset;
  const le = !f.bigEndian;
  if (f.kind === 'float') return f.size === 4 ? (v, b) => v.getFloat32(b + o, true) : (v, b) => v.getFloat64(b + o, true);
  if (f.kind !== 'uint' && f.kind !== 'int' && f.kind !== 'bool') return undefined;
  const signed = f.kind === 'int';
  switch (f.size) {
    case 1:
      return signed ? (v, b) => v.getInt8(b + o) : (v, b) => v.getUint8(b + o);
    case 2:
      return signed ? (v, b) => v.getInt16(b + o, le) : (v, b) => v.getUint16(b + o, le);
    case 4:
      return signed ? (v, b) => v.getInt32(b + o, le) : (v, b) => v.getUint32(b + o, le);
    case 8:
      if (!le) return (v, b) => v.getUint32(b + o, false) * 4294967296 + v.getUint32(b + o + 4, false);
      return signed
        ? (v, b) => v.getInt32(b + o + 4, true) * 4294967296 + v.getUint32(b + o, true)
        : (v, b) => v.getUint32(b + o + 4, true) * 4294967296 + v.getUint32(b + o, true);
    default:
      return undefined;
  }
}

/** Reads a u64 field exactly (addresses, cgroup ids). */
export function bigReader(f: FieldInfo): ((view: DataView, base: number) => bigint) | undefined {
  const o = f.offset;
  if (f.size !== 8 || (f.kind !== 'uint' && f.kind !== 'int')) return undefined;
  return (v, b) => v.getBigUint64(b + o, true);
}
