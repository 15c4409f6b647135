/**
 * Codecs from BTF: read a map's key and value as records without writing a
 * definition, using the BTF the map was created with.
 *
 * How C types become JavaScript values:
 * - integers as the scalar codecs do (64-bit as bigint); `_Bool` as boolean;
 *   `__int128` and other odd sizes as byte arrays; pointers as u64 bigints;
 *   `__be16/32/64` typedefs as the big-endian codecs;
 * - `char[n]` as strings (cstring); other arrays as arrays;
 * - enums as the enumerator's name when the value has one, else the number
 *   (encode takes either);
 * - structs as records; members of anonymous structs/unions are lifted into
 *   the enclosing record, as C lets you name them; bitfields as numbers
 *   (bigint beyond 32 bits), sign-extended when signed;
 * - unions as a record holding only their first named member (encoding
 *   writes that member and zeroes the rest of the union);
 * - typedef, const, volatile, restrict and type tags are looked through;
 * - `struct bpf_spin_lock` is the `bpfSpinLock` codec (left out of records);
 * - a DATASEC (the value of a global-data map: `.bss`, `.data`, `.rodata`)
 *   as a record of its variables, name → value at each variable's offset
 *   (kind `struct`, `datasec: true`); a variable whose type has no codec reads
 *   as its bytes.
 */
import { type Codec, type DecodeOptions, decodeWith, encodeWith, fieldError } from '../codec/codec.js';
import { SCALARS } from '../codec/scalar.js';
import { type StructField, type StructType, array, bpfSpinLock, cstring, getField, putField } from '../codec/struct.js';
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, BtfKind } from './kinds.js';
import { cTypeName } from './c-name.js';
import { type BtfType, parseBtf, readBtfBlob } from './parse.js';

/** A BTF type the codec builder cannot turn into a codec (functions, forward declarations, …). */
export class BtfCodecError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'BtfCodecError';
  }
}

const MODIFIERS = new Set([BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);
// A Map, not an object literal: a typedef named `constructor` or `__proto__` (hostile BTF) must not
// find Object.prototype's members.
const BE = new Map<string, Codec<unknown>>([
  ['__be16', SCALARS.be16],
  ['__be32', SCALARS.be32],
  ['__be64', SCALARS.be64],
]);

/** How deep types may nest (C code stays far below); deeper is refused, as a cycle would be. */
const MAX_DEPTH = 64;
/** The largest type a codec is built for: far above any map value the kernel allows. */
const MAX_SIZE = 2 ** 31;

/**
 * Builds codecs from one parsed BTF object, caching one codec per type id. Any BTF, hostile or not,
 * yields a codec or a `BtfCodecError`: cycles and nesting deeper than `MAX_DEPTH` are refused.
 */
export class BtfSpec {
  readonly types: readonly BtfType[];
  readonly #cache = new Map<number, Codec<unknown>>();
  /** Type ids whose codec is being built: meeting one again means a type contains itself. */
  readonly #building = new Set<number>();

  constructor(types: readonly BtfType[]) {
    this.types = types;
  }

  /** The type with id `id` (1-based). */
  type(id: number): BtfType {
    const t = this.types[id - 1];
    if (t === undefined) throw new BtfCodecError(`BTF type id ${id} does not exist (this BTF has ${this.types.length} types)`);
    return t;
  }

  /** The C spelling of a type, for messages: `struct flow`, `unsigned int`, `__be32`. */
  cName(id: number): string {
    return cTypeName((t) => this.type(t), id);
  }

  /** Size in bytes of type `id`. */
  sizeOf(id: number, depth = 0): number {
    if (depth > MAX_DEPTH) throw this.#tooDeep(this.cName(id));
    const t = this.type(id);
    if (MODIFIERS.has(t.kind)) return this.sizeOf(t.type ?? 0, depth + 1);
    if (t.kind === BtfKind.Array) {
      const n = this.sizeOf(t.elemType ?? 0, depth + 1) * (t.nelems ?? 0);
      if (n > MAX_SIZE) throw new BtfCodecError(`${this.cName(id)} is too large: ${n} bytes (at most ${MAX_SIZE})`);
      return n;
    }
    if (t.kind === BtfKind.Ptr) return 8;
    if (t.size !== undefined) return t.size;
    throw new BtfCodecError(`${this.cName(id)} has no size`);
  }

  /** The codec for type `id`. */
  codec(id: number, path = this.cName(id)): Codec<unknown> {
    const known = this.#cache.get(id);
    if (known !== undefined) return known;
    if (this.#building.has(id)) throw new BtfCodecError(`${path}: ${this.cName(id)} contains itself (a cycle in the BTF)`);
    if (this.#building.size >= MAX_DEPTH) throw this.#tooDeep(path);
    this.#building.add(id);
    try {
      const c = this.#build(id, path);
      this.#cache.set(id, c);
      return c;
    } finally {
      this.#building.delete(id);
    }
  }

  #tooDeep(path: string): BtfCodecError {
    return new BtfCodecError(`${path}: types nest more than ${MAX_DEPTH} deep (a cycle in the BTF?)`);
  }

  #build(id: number, path: string): Codec<unknown> {
    if (id === 0) throw new BtfCodecError(`${path}: void has no values`);
    const t = this.type(id);
    const be = t.kind === BtfKind.Typedef ? BE.get(t.name) : undefined;
    if (be !== undefined) return be;
    if (MODIFIERS.has(t.kind)) return this.codec(t.type ?? 0, path);
    switch (t.kind) {
      case BtfKind.Int:
        return this.#int(t, path);
      case BtfKind.Ptr:
        return SCALARS.u64;
      case BtfKind.Float:
        if (t.size === 4) return SCALARS.f32;
        if (t.size === 8) return SCALARS.f64;
        return array('u8', t.size ?? 1);
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return enumCodec(t);
      case BtfKind.Array: {
        const n = t.nelems ?? 0;
        if (n === 0) throw new BtfCodecError(`${path}: a zero-length array has no values`);
        this.sizeOf(id); // refuses arrays too large to hold
        const elem = this.#resolved(t.elemType ?? 0);
        if (elem.kind === BtfKind.Int && elem.size === 1 && (elem.name === 'char' || (elem.intEncoding ?? 0) & BTF_INT_CHAR))
          return cstring(n);
        return array(this.codec(t.elemType ?? 0, `${path}[]`), n);
      }
      case BtfKind.Struct:
        if (t.name === 'bpf_spin_lock' && t.size === 4) return bpfSpinLock;
        return this.#struct(t, path);
      case BtfKind.Union:
        return this.#union(t, path);
      case BtfKind.Datasec:
        return this.#datasec(t, path);
      default:
        throw new BtfCodecError(`${path}: no codec for BTF ${BtfKind[t.kind] ?? t.kind} ${t.name}`.trimEnd());
    }
  }

  #resolved(id: number): BtfType {
    let t = this.type(id);
    for (let n = 0; MODIFIERS.has(t.kind); n++) {
      if (n > this.types.length) throw new BtfCodecError(`${this.cName(id)}: a cycle of typedefs and modifiers in the BTF`);
      t = this.type(t.type ?? 0);
    }
    return t;
  }

  #int(t: BtfType, path: string): Codec<unknown> {
    const size = t.size ?? 0;
    const enc = t.intEncoding ?? 0;
    if (enc & BTF_INT_BOOL && size === 1) return SCALARS.bool;
    const signed = (enc & BTF_INT_SIGNED) !== 0;
    if (size === 1 || size === 2 || size === 4 || size === 8) {
      const name = `${signed ? 'i' : 'u'}${size * 8}` as keyof typeof SCALARS;
      return SCALARS[name];
    }
    if (size > 0) return array('u8', size);
    throw new BtfCodecError(`${path}: int ${t.name} has size ${size}`);
  }

  /** Members with anonymous struct/union members lifted, offsets in bits from `base`. */
  #flatten(t: BtfType, baseBits: number, path: string, out: Member[], depth = 0): void {
    if (depth > MAX_DEPTH) throw this.#tooDeep(path);
    for (const m of t.members ?? []) {
      const bit = baseBits + m.bitOffset;
      if (m.name === '') {
        const inner = this.#resolved(m.type);
        if (inner.kind === BtfKind.Struct) {
          this.#flatten(inner, bit, path, out, depth + 1);
          continue;
        }
        if (inner.kind === BtfKind.Union) {
          const first = (inner.members ?? [])[0];
          if (first) this.#flatten({ ...inner, members: [first] }, bit, path, out, depth + 1);
          continue;
        }
        continue; // an unnamed non-aggregate member (padding) holds nothing to show
      }
      const mt = this.#resolved(m.type);
      const intBits = mt.kind === BtfKind.Int ? (mt.intBits ?? 0) : 0;
      const intOff = mt.kind === BtfKind.Int ? (mt.intOffset ?? 0) : 0;
      const isEnum = mt.kind === BtfKind.Enum || mt.kind === BtfKind.Enum64;
      const bits = m.bitSize || (mt.kind === BtfKind.Int && intBits < (mt.size ?? 0) * 8 ? intBits : 0);
      if (bits > 0 || intOff > 0 || bit % 8 !== 0) {
        if (mt.kind !== BtfKind.Int && !isEnum)
          throw new BtfCodecError(`${path}.${m.name}: a bitfield of ${this.cName(m.type)} is not supported`);
        const width = bits || (mt.size ?? 0) * 8;
        const signed = mt.kind === BtfKind.Int ? ((mt.intEncoding ?? 0) & BTF_INT_SIGNED) !== 0 : mt.signed === true;
        out.push({ name: m.name, bit: bit + intOff, codec: bitfield(`${this.cName(m.type)}:${width}`, width, signed) });
        continue;
      }
      out.push({ name: m.name, bit, codec: this.codec(m.type, `${path}.${m.name}`) });
    }
  }

  #struct(t: BtfType, path: string): Codec<unknown> {
    const members: Member[] = [];
    this.#flatten(t, 0, path, members);
    return recordCodec('struct', t.name ? `struct ${t.name}` : 'struct (anon)', t.size ?? 0, members);
  }

  #datasec(t: BtfType, path: string): Codec<unknown> {
    const members: Member[] = [];
    for (const v of t.vars ?? []) {
      const vt = this.type(v.type);
      if (vt.kind !== BtfKind.Var || vt.name === '') continue;
      let codec: Codec<unknown>;
      try {
        codec = this.codec(vt.type ?? 0, `${path}.${vt.name}`);
        if (codec.size !== v.size) codec = array('u8', v.size);
      } catch (err) {
        if (!(err instanceof BtfCodecError) || v.size < 1) throw err;
        codec = array('u8', v.size);
      }
      members.push({ name: vt.name, bit: v.offset * 8, codec });
    }
    const c = recordCodec('struct', `datasec ${t.name}`, t.size ?? 0, members);
    return Object.freeze({ ...c, datasec: true, section: t.name });
  }

  #union(t: BtfType, path: string): Codec<unknown> {
    const first = (t.members ?? []).find((m) => m.name !== '') ?? (t.members ?? [])[0];
    const members: Member[] = [];
    if (first) this.#flatten({ ...t, members: [first] }, 0, path, members);
    return recordCodec('union', t.name ? `union ${t.name}` : 'union (anon)', t.size ?? 0, members);
  }
}

interface Member {
  name: string;
  /** Bit offset from the record start; byte-aligned unless a bitfield. */
  bit: number;
  codec: Codec<unknown>;
}

/** An integer of `width` bits at a bit offset: the offset is given to read/write in bits via the field list. */
export interface BitfieldCodec extends Codec<number | bigint> {
  readonly kind: 'bitfield';
  readonly bits: number;
  readonly signed: boolean;
}

function bitfield(name: string, bits: number, signed: boolean): BitfieldCodec {
  const c: BitfieldCodec = {
    kind: 'bitfield',
    name,
    size: Math.ceil(bits / 8),
    align: 1,
    bits,
    signed,
    // Bitfields are read and written by recordCodec, which knows the bit offset.
    write: () => {
      throw new TypeError(`${name}: a bitfield is written through its struct`);
    },
    read: () => {
      throw new TypeError(`${name}: a bitfield is read through its struct`);
    },
    zero: () => (bits > 32 ? 0n : 0),
    encode: () => {
      throw new TypeError(`${name}: a bitfield is encoded through its struct`);
    },
    decode: () => {
      throw new TypeError(`${name}: a bitfield is decoded through its struct`);
    },
  };
  return Object.freeze(c);
}

function readBits(view: DataView, base: number, bit: number, bits: number, signed: boolean): number | bigint {
  const first = base + (bit >> 3);
  const shift = bit & 7;
  const nbytes = Math.ceil((shift + bits) / 8);
  let v = 0n;
  for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(first + i));
  v = (v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
  if (signed) v = BigInt.asIntN(bits, v);
  return bits > 32 ? v : Number(v);
}

function writeBits(view: DataView, base: number, bit: number, bits: number, value: bigint): void {
  const first = base + (bit >> 3);
  const shift = bit & 7;
  const nbytes = Math.ceil((shift + bits) / 8);
  let cur = 0n;
  for (let i = nbytes - 1; i >= 0; i--) cur = (cur << 8n) | BigInt(view.getUint8(first + i));
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
  cur = (cur & ~mask) | ((BigInt.asUintN(bits, value) << BigInt(shift)) & mask);
  for (let i = 0; i < nbytes; i++) {
    view.setUint8(first + i, Number(cur & 0xffn));
    cur >>= 8n;
  }
}

function recordCodec(kind: 'struct' | 'union', name: string, size: number, members: readonly Member[]): Codec<unknown> {
  const data = members.filter((m) => m.codec.kind !== 'spinlock');
  const known = new Set(data.map((m) => m.name));
  const fields: StructField[] = members.map((m) => ({
    name: m.name,
    offset: m.bit >> 3,
    size: m.codec.size,
    type: m.codec,
    ...(m.codec.kind === 'bitfield' ? { bitOffset: m.bit } : {}),
  }));
  const c = {
    kind,
    name,
    size,
    align: 1,
    packed: true,
    fields: Object.freeze(fields),
    write(view: DataView, base: number, value: unknown, path: string) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, `a ${name} record`, value);
      const rec = value as Record<string, unknown>;
      for (const k of Object.keys(rec))
        if (!known.has(k)) throw new TypeError(`${path}.${k}: unknown field (${name} has ${[...known].join(', ')})`);
      for (let i = 0; i < size; i++) view.setUint8(base + i, 0);
      for (const m of data) {
        const v = getField(rec, m.name);
        if (v === undefined) throw new TypeError(`${path}.${m.name}: missing field (expected ${m.codec.name})`);
        if (m.codec.kind === 'bitfield') {
          const b = m.codec as BitfieldCodec;
          const lo = b.signed ? -(1n << BigInt(b.bits - 1)) : 0n;
          const hi = b.signed ? (1n << BigInt(b.bits - 1)) - 1n : (1n << BigInt(b.bits)) - 1n;
          if ((typeof v !== 'number' || !Number.isInteger(v)) && typeof v !== 'bigint')
            throw fieldError(`${path}.${m.name}`, `an integer from ${lo} to ${hi}`, v);
          const big = BigInt(v);
          if (big < lo || big > hi) throw fieldError(`${path}.${m.name}`, `an integer from ${lo} to ${hi}`, v, 'range');
          writeBits(view, base, m.bit, b.bits, big);
        } else {
          m.codec.write(view, base + (m.bit >> 3), v, `${path}.${m.name}`);
        }
      }
    },
    read(view: DataView, base: number) {
      const rec: Record<string, unknown> = {};
      for (const m of data) {
        if (m.codec.kind === 'bitfield') {
          const b = m.codec as BitfieldCodec;
          putField(rec, m.name, readBits(view, base, m.bit, b.bits, b.signed));
        } else putField(rec, m.name, m.codec.read(view, base + (m.bit >> 3)));
      }
      return rec;
    },
    readPrefix(view: DataView, base: number, avail: number) {
      const rec: Record<string, unknown> = {};
      for (const m of data) {
        if (m.codec.kind === 'bitfield') {
          const b = m.codec as BitfieldCodec;
          if (m.bit + b.bits > avail * 8) break;
          rec[m.name] = readBits(view, base, m.bit, b.bits, b.signed);
        } else {
          if ((m.bit >> 3) + m.codec.size > avail) break; // cut in the middle, or past the end: left out
          rec[m.name] = m.codec.read(view, base + (m.bit >> 3));
        }
      }
      return rec;
    },
    zero() {
      const rec: Record<string, unknown> = {};
      for (const m of data) putField(rec, m.name, m.codec.zero());
      return rec;
    },
    make(partial?: Record<string, unknown>) {
      return { ...c.zero(), ...(partial ?? {}) };
    },
    encode: (value: unknown, out?: Uint8Array, offset = 0): Uint8Array =>
      encodeWith(c as Codec<unknown>, value, out, offset, name),
    decode: (bytes: Uint8Array, offset: number | DecodeOptions = 0): unknown => decodeWith(c as Codec<unknown>, bytes, offset),
  };
  return Object.freeze(c) as unknown as StructType<unknown> as Codec<unknown>;
}

function enumCodec(t: BtfType): Codec<unknown> {
  const size = t.size ?? 4;
  const signed = t.signed === true;
  const byValue = new Map<bigint, string>();
  const byName = new Map<string, bigint>();
  for (const v of t.values ?? []) {
    if (!byValue.has(v.value)) byValue.set(v.value, v.name);
    if (!byName.has(v.name)) byName.set(v.name, v.value);
  }
  // Hostile BTF may name two values alike (C cannot): a name decodes only the value it encodes to,
  // the other value stays a number, so encode(decode(bytes)) is always the same bytes.
  for (const [value, n] of byValue) if (byName.get(n) !== value) byValue.delete(value);
  const name = t.name ? `enum ${t.name}` : 'enum (anon)';
  const bits = size * 8;
  const read = (view: DataView, off: number): bigint => {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(off + i));
    return signed ? BigInt.asIntN(bits, v) : v;
  };
  const c: Codec<unknown> & { values: readonly { name: string; value: bigint }[]; signed: boolean } = {
    kind: 'enum',
    name,
    size,
    align: size,
    values: Object.freeze([...(t.values ?? [])]),
    signed,
    write(view, off, value, path) {
      let v: bigint;
      if (typeof value === 'string') {
        const known = byName.get(value);
        if (known === undefined)
          throw fieldError(path, `one of ${[...byName.keys()].slice(0, 8).join(', ')}${byName.size > 8 ? ', …' : ''}`, value);
        v = known;
      } else if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint') v = BigInt(value);
      else throw fieldError(path, `an ${name} name or integer`, value);
      const u = BigInt.asUintN(bits, v);
      if ((signed ? BigInt.asIntN(bits, u) : u) !== v)
        throw fieldError(path, `an integer that fits ${size} bytes`, value, 'range');
      let x = u;
      for (let i = 0; i < size; i++) {
        view.setUint8(off + i, Number(x & 0xffn));
        x >>= 8n;
      }
    },
    read(view, off) {
      const v = read(view, off);
      return byValue.get(v) ?? (size > 4 ? v : Number(v));
    },
    zero: () => byValue.get(0n) ?? 0,
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, name),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  };
  return Object.freeze(c);
}

/** Reads and parses the kernel BTF object with id `id` (needs CAP_SYS_ADMIN). @kernel 4.18 */
export function readBtf(id: number): BtfSpec {
  return new BtfSpec(parseBtf(readBtfBlob(id)));
}
