/**
 * Codecs for the C layouts `defineStruct` cannot express, as `bpfmap gen`
 * emits them from BTF: records with explicit offsets (bitfields, members of
 * anonymous structs and unions lifted into the record, `aligned`/`packed`
 * attributes), unions, and enums. Also `checkLayout`, with which a generated
 * module proves at load time that each codec has the layout BTF gave.
 *
 * Unions decode to a record of every member (each a reading of the same
 * bytes); encoding takes any of them — the members given are written in
 * declaration order and must agree with one another where they overlap.
 */
import { describeValue as show } from '../validate.js';
import { type Codec, type DecodeOptions, decodeWith, encodeWith, fieldError } from './codec.js';
import { SCALARS, toIntBig } from './scalar.js';
import {
  type FieldType,
  type FieldValue,
  type SpinLockType,
  type StructField,
  type StructType,
  getField,
  putField,
} from './struct.js';

/** A member at a byte offset: `{ offset: 8, type: 'u32' }`; `optional` for members of (anonymous) unions. */
export interface LayoutMember {
  readonly offset: number;
  readonly type: FieldType;
  readonly optional?: boolean;
}

/**
 * A bitfield: `bits` wide at bit offset `bit` from the record's start (little-endian bit order, as
 * clang lays them out for BPF). Values are `number`s; with `wide: true` (for more than 32 bits) `bigint`s.
 */
export interface LayoutBitfield {
  readonly bit: number;
  readonly bits: number;
  readonly signed?: boolean;
  readonly wide?: boolean;
  readonly optional?: boolean;
}

/** One field of `defineLayout`. */
export type LayoutField = LayoutMember | LayoutBitfield;

/** Flattens an intersection into one object type, so editors show records as one literal. */
export type Simplify<T> = { -readonly [K in keyof T]: T[K] } & {};
/** The record value of one layout field. */
export type LayoutValue<S> = S extends { type: infer T } ? FieldValue<T> : S extends { wide: true } ? bigint : number;
/** The `defineLayout` fields that hold values (spin locks left out). */
export type DataFields<F> = { [K in keyof F as F[K] extends { type: SpinLockType } ? never : K]: F[K] };
/** The record `defineLayout` infers: required fields, then optional ones (union members). */
export type LayoutRecord<F> = Simplify<
  { [K in keyof DataFields<F> as DataFields<F>[K] extends { optional: true } ? never : K]: LayoutValue<DataFields<F>[K]> } & {
    [K in keyof DataFields<F> as DataFields<F>[K] extends { optional: true } ? K : never]?: LayoutValue<DataFields<F>[K]>;
  }
>;
/** The record `defineUnion` infers: every member optional. */
export type UnionRecord<F extends Record<string, FieldType>> = Simplify<{
  [K in keyof F as F[K] extends SpinLockType ? never : K]?: FieldValue<F[K]>;
}>;

/** A union codec: decodes to every member, encodes the members given. */
export interface UnionType<R> extends Codec<R> {
  readonly kind: 'union';
  readonly fields: readonly StructField[];
  /** A record with every member read from zero bytes, then the given members set. */
  make(partial?: Partial<R>): R;
}

/** An enum codec: decodes to the enumerator's name when the value has one, else the number. */
export interface EnumType<T> extends Codec<T> {
  readonly kind: 'enum';
  readonly signed: boolean;
  /** Enumerator name → value. */
  readonly values: Readonly<Record<string, number | bigint>>;
}

/** Size and alignment of a `defineLayout` record, as BTF gives them. */
export interface LayoutOptions {
  size: number;
  /** Default 1 (structs BTF describes as packed); a generated module gives the C alignment. */
  align?: number;
}

interface Slot {
  name: string;
  offset: number;
  codec: Codec<unknown> | undefined;
  bit: number;
  bits: number;
  signed: boolean;
  wide: boolean;
  optional: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX = 2 ** 31;

function resolve(t: unknown, path: string): Codec<unknown> {
  if (typeof t === 'string') {
    const s = (SCALARS as Record<string, Codec<unknown>>)[t];
    if (!s)
      throw new TypeError(
        `${path}: unknown field type ${JSON.stringify(t)} (expected one of ${Object.keys(SCALARS).join(', ')}, or a codec)`,
      );
    return s;
  }
  if (t && typeof t === 'object' && 'kind' in t && 'size' in t && 'write' in t) return t as Codec<unknown>;
  throw new TypeError(`${path}: field type must be a scalar name or a codec, got ${show(t)}`);
}

function checkInt(v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`${what}: expected an integer from ${lo} to ${hi}, got ${show(v)}`);
  return v;
}

function readBits(view: DataView, base: number, s: Slot): number | bigint {
  const first = base + (s.bit >> 3);
  const shift = s.bit & 7;
  const n = (shift + s.bits + 7) >> 3;
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(first + i));
  v = (v >> BigInt(shift)) & ((1n << BigInt(s.bits)) - 1n);
  if (s.signed) v = BigInt.asIntN(s.bits, v);
  return s.wide ? v : Number(v);
}

function writeBits(view: DataView, base: number, s: Slot, value: bigint): void {
  const first = base + (s.bit >> 3);
  const shift = s.bit & 7;
  const n = (shift + s.bits + 7) >> 3;
  let cur = 0n;
  for (let i = n - 1; i >= 0; i--) cur = (cur << 8n) | BigInt(view.getUint8(first + i));
  const mask = ((1n << BigInt(s.bits)) - 1n) << BigInt(shift);
  cur = (cur & ~mask) | ((BigInt.asUintN(s.bits, value) << BigInt(shift)) & mask);
  for (let i = 0; i < n; i++) {
    view.setUint8(first + i, Number(cur & 0xffn));
    cur >>= 8n;
  }
}

const masks = new WeakMap<Codec<unknown>, Uint8Array>();

/** 1 for each byte of `codec` that holds data, 0 for padding (from its fields / element layout). */
function dataMask(codec: Codec<unknown>): Uint8Array {
  const known = masks.get(codec);
  if (known) return known;
  const m = new Uint8Array(codec.size);
  const c = codec as Codec<unknown> & { fields?: readonly StructField[]; element?: Codec<unknown>; length?: number };
  if ((c.kind === 'struct' || c.kind === 'union') && c.fields) {
    for (const f of c.fields) {
      if (f.type.kind === 'spinlock') continue;
      if (f.bitOffset !== undefined) m.fill(1, f.offset, Math.min(m.length, f.offset + f.size + 1));
      else m.set(dataMask(f.type).subarray(0, Math.max(0, Math.min(f.size, m.length - f.offset))), f.offset);
    }
  } else if (c.kind === 'array' && c.element && c.length) {
    const e = dataMask(c.element);
    for (let i = 0; i < c.length; i++) m.set(e, i * c.element.size);
  } else m.fill(1);
  masks.set(codec, m);
  return m;
}

function slotBytes(s: Slot): [number, number] {
  return s.codec ? [s.offset, s.offset + s.codec.size] : [s.bit >> 3, (s.bit + s.bits + 7) >> 3];
}

/** Builds the record codec shared by `defineLayout` and `defineUnion`. */
function record<R>(
  kind: 'struct' | 'union',
  cname: string,
  size: number,
  align: number,
  slots: Slot[],
): Codec<R> & { fields: readonly StructField[]; make(p?: Partial<R>): R } {
  const data = slots.filter((s) => s.codec?.kind !== 'spinlock');
  const known = new Set(data.map((s) => s.name));
  const list = () => [...known].join(', ');
  // Optional members that share bytes with another member: after writing, each given one must read back as given.
  const overlapping = new Set<Slot>();
  for (const a of data)
    for (const b of data) {
      if (a === b || !(a.optional || b.optional)) continue;
      const [a0, a1] = slotBytes(a);
      const [b0, b1] = slotBytes(b);
      if (a0 < b1 && b0 < a1) {
        if (a.optional) overlapping.add(a);
        if (b.optional) overlapping.add(b);
      }
    }
  const writeSlot = (view: DataView, base: number, s: Slot, v: unknown, path: string, merge = false) => {
    if (s.codec) {
      if (!merge) {
        s.codec.write(view, base + s.offset, v, path);
        return;
      }
      // Over another member: copy only this member's data bytes, so its padding keeps the other's bytes.
      const tmp = new Uint8Array(s.codec.size);
      s.codec.write(new DataView(tmp.buffer), 0, v, path);
      const mask = dataMask(s.codec);
      for (let i = 0; i < tmp.length; i++) if (mask[i]) view.setUint8(base + s.offset + i, tmp[i] as number);
      return;
    }
    if (!s.wide && typeof v !== 'number') throw fieldError(path, `a number (a ${s.bits}-bit bitfield)`, v);
    writeBits(view, base, s, toIntBig(v, s.bits, s.signed, path));
  };
  const readSlot = (view: DataView, base: number, s: Slot): unknown =>
    s.codec ? s.codec.read(view, base + s.offset) : readBits(view, base, s);
  const sameAs = (view: DataView, base: number, s: Slot, v: unknown): boolean => {
    if (!s.codec) return BigInt(readBits(view, base, s)) === BigInt(v as number | bigint);
    // Compare encodings (padding zeroed in both), not the bytes in place, which may hold another member's padding.
    const given = s.codec.encode(v);
    const back = s.codec.encode(s.codec.read(view, base + s.offset));
    return given.every((x, i) => x === back[i]);
  };
  const c = {
    kind,
    name: cname,
    size,
    align,
    packed: align === 1,
    fields: Object.freeze(
      slots.map((s) =>
        Object.freeze({
          name: s.name,
          offset: s.codec ? s.offset : s.bit >> 3,
          size: s.codec ? s.codec.size : (s.bits + 7) >> 3,
          type: s.codec ?? SCALARS.u8,
          ...(s.codec ? {} : { bitOffset: s.bit }),
        }),
      ),
    ),
    write(view: DataView, base: number, value: unknown, path: string) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, `a ${cname} record`, value);
      const rec = value as Record<string, unknown>;
      for (const k of Object.keys(rec))
        if (!known.has(k)) throw new TypeError(`${path}.${k}: unknown field (${cname} has ${list()})`);
      new Uint8Array(view.buffer, view.byteOffset + base, size).fill(0);
      const given: [Slot, unknown][] = [];
      for (const s of data) {
        const v = getField(rec, s.name);
        if (v === undefined) {
          if (s.optional) continue;
          throw new TypeError(`${path}.${s.name}: missing field (expected ${s.codec?.name ?? `a ${s.bits}-bit bitfield`})`);
        }
        writeSlot(view, base, s, v, `${path}.${s.name}`, given.length > 0 && overlapping.has(s));
        if (overlapping.has(s)) given.push([s, v]);
      }
      if (given.length > 1)
        for (const [s, v] of given)
          if (!sameAs(view, base, s, v))
            throw new TypeError(
              `${path}.${s.name}: union members ${given.map(([g]) => g.name).join(', ')} were all given but disagree; give one of them`,
            );
    },
    read(view: DataView, base: number): R {
      const rec: Record<string, unknown> = {};
      for (const s of data) putField(rec, s.name, readSlot(view, base, s));
      return rec as R;
    },
    readPrefix(view: DataView, base: number, avail: number): R {
      const rec: Record<string, unknown> = {};
      for (const s of data) {
        if (slotBytes(s)[1] > avail) continue; // not wholly present: left out
        putField(rec, s.name, readSlot(view, base, s));
      }
      return rec as R;
    },
    zero(): R {
      return c.read(new DataView(new ArrayBuffer(size)), 0);
    },
    make(partial?: Partial<R>): R {
      if (partial === undefined) return c.zero();
      if (typeof partial !== 'object' || partial === null) throw fieldError(cname, `a partial ${cname} record`, partial);
      // Required members default to zero; union members not given read whatever the given ones left.
      const rec: Record<string, unknown> = {};
      for (const s of data) if (!s.optional) putField(rec, s.name, s.codec ? s.codec.zero() : s.wide ? 0n : 0);
      for (const [k, v] of Object.entries(partial)) if (v !== undefined) putField(rec, k, v);
      const bytes = new Uint8Array(size);
      c.write(new DataView(bytes.buffer), 0, rec, cname);
      return c.read(new DataView(bytes.buffer), 0);
    },
    encode: (value: R, out?: Uint8Array, offset = 0): Uint8Array => encodeWith(c as Codec<R>, value, out, offset, cname),
    decode: (bytes: Uint8Array, offset: number | DecodeOptions = 0): R => decodeWith(c as Codec<R>, bytes, offset),
  };
  return Object.freeze(c);
}

/**
 * Defines a C record with explicit member offsets, for layouts `defineStruct` cannot derive:
 * bitfields, members lifted from anonymous structs and unions (`optional: true` for union members),
 * `__attribute__((aligned))`, packed members. The record type is inferred.
 *
 * ```ts
 * const flags = defineLayout('flags', { size: 4, align: 4 }, { a: { bit: 0, bits: 3 }, b: { bit: 3, bits: 5, signed: true } });
 * ```
 * @throws {TypeError|RangeError} for a member outside `size`, an unknown type, or a bad bitfield.
 */
export function defineLayout<const F extends Record<string, LayoutField>>(
  name: string,
  opts: LayoutOptions,
  fields: F,
): StructType<LayoutRecord<F>> {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new TypeError(`struct name must be a C identifier, got ${show(name)}`);
  const size = checkInt(opts?.size, 1, MAX, `struct ${name}: size`);
  const align = checkInt(opts.align ?? 1, 1, 4096, `struct ${name}: align`);
  if (typeof fields !== 'object' || fields === null)
    throw new TypeError(`${name}: fields must be an object of name → { offset, type } or { bit, bits }`);
  const slots: Slot[] = [];
  for (const [fname, f] of Object.entries(fields as Record<string, LayoutField>)) {
    const path = `${name}.${fname}`;
    if (!IDENT.test(fname)) throw new TypeError(`${path}: field names must be C identifiers`);
    if (typeof f !== 'object' || f === null)
      throw new TypeError(`${path}: expected { offset, type } or { bit, bits }, got ${show(f)}`);
    const optional = f.optional === true;
    if ('type' in f) {
      const codec = resolve(f.type, path);
      const offset = checkInt(
        f.offset,
        0,
        size - codec.size,
        `${path}: offset (a ${codec.size}-byte ${codec.name} in ${size} bytes)`,
      );
      slots.push({ name: fname, offset, codec, bit: offset * 8, bits: codec.size * 8, signed: false, wide: false, optional });
    } else {
      const bits = checkInt(f.bits, 1, 64, `${path}: bits`);
      const bit = checkInt(f.bit, 0, size * 8 - bits, `${path}: bit offset (${bits} bits in ${size} bytes)`);
      const wide = f.wide === true;
      if (wide !== bits > 32)
        throw new TypeError(
          `${path}: a ${bits}-bit bitfield ${bits > 32 ? 'needs' : 'must not have'} wide: true (values beyond 32 bits are bigints)`,
        );
      slots.push({ name: fname, offset: bit >> 3, codec: undefined, bit, bits, signed: f.signed === true, wide, optional });
    }
  }
  if (slots.length === 0) throw new TypeError(`${name}: a struct needs at least one field`);
  return record<LayoutRecord<F>>('struct', `struct ${name}`, size, align, slots) as unknown as StructType<LayoutRecord<F>>;
}

/**
 * Defines a C union: every member at offset 0. Decoding gives every member (each a reading of the
 * same bytes); encoding writes the members given, which must agree where they overlap.
 * `opts.size`/`opts.align` default to the largest member's; give them when the C union is larger.
 * @throws {TypeError|RangeError} for unknown member types or a member larger than `size`.
 */
export function defineUnion<const F extends Record<string, FieldType>>(
  name: string,
  members: F,
  opts: Partial<LayoutOptions> = {},
): UnionType<UnionRecord<F>> {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new TypeError(`union name must be a C identifier, got ${show(name)}`);
  if (typeof members !== 'object' || members === null) throw new TypeError(`${name}: members must be an object of name → type`);
  const codecs = Object.entries(members).map(([m, t]) => {
    if (!IDENT.test(m)) throw new TypeError(`${name}.${m}: member names must be C identifiers`);
    return [m, resolve(t, `${name}.${m}`)] as const;
  });
  if (codecs.length === 0) throw new TypeError(`${name}: a union needs at least one member`);
  const natural = Math.max(...codecs.map(([, c]) => c.size));
  const align = checkInt(opts.align ?? Math.max(...codecs.map(([, c]) => c.align)), 1, 4096, `union ${name}: align`);
  const size = checkInt(opts.size ?? Math.ceil(natural / align) * align, natural, MAX, `union ${name}: size`);
  const slots = codecs.map(([m, codec]) => ({
    name: m,
    offset: 0,
    codec,
    bit: 0,
    bits: codec.size * 8,
    signed: false,
    wide: false,
    optional: true,
  }));
  return record<UnionRecord<F>>('union', `union ${name}`, size, align, slots) as unknown as UnionType<UnionRecord<F>>;
}

/** Options of `defineEnum`: the C enum's size (default 4) and signedness. */
export interface EnumOptions<S extends 1 | 2 | 4 | 8 = 1 | 2 | 4 | 8> {
  size?: S;
  signed?: boolean;
}

/**
 * Defines a C enum of `size` bytes (default 4): records hold the enumerator's name when the value
 * has one, else the number (`bigint` for 8-byte enums); encoding takes a name or a number.
 * @throws {TypeError|RangeError} for a value that does not fit `size`.
 */
export function defineEnum<const V extends Record<string, bigint>>(
  name: string,
  values: V,
  opts: EnumOptions<8> & { size: 8 },
): EnumType<(keyof V & string) | bigint>;
export function defineEnum<const V extends Record<string, number>>(
  name: string,
  values: V,
  opts?: EnumOptions<1 | 2 | 4>,
): EnumType<(keyof V & string) | number>;
export function defineEnum(
  name: string,
  values: Record<string, number | bigint>,
  opts: EnumOptions = {},
): EnumType<string | number | bigint> {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new TypeError(`enum name must be a C identifier, got ${show(name)}`);
  const size = opts.size ?? 4;
  if (![1, 2, 4, 8].includes(size)) throw new RangeError(`enum ${name}: size must be 1, 2, 4 or 8, got ${show(size)}`);
  const signed = opts.signed === true;
  const bits = size * 8;
  const cname = `enum ${name}`;
  const byName = new Map<string, bigint>();
  const byValue = new Map<bigint, string>();
  for (const [k, v] of Object.entries(values)) {
    const b = toIntBig(v, bits, signed, `${cname}.${k}`);
    byName.set(k, b);
    if (!byValue.has(b)) byValue.set(b, k);
  }
  const out = (v: bigint): string | number | bigint => byValue.get(v) ?? (size > 4 ? v : Number(v));
  const c: EnumType<string | number | bigint> = Object.freeze({
    kind: 'enum' as const,
    name: cname,
    size,
    align: size,
    signed,
    values: Object.freeze({ ...values }),
    write(view: DataView, off: number, value: unknown, path: string) {
      let v: bigint;
      if (typeof value === 'string') {
        const known = byName.get(value);
        if (known === undefined)
          throw fieldError(
            path,
            `one of ${[...byName.keys()].slice(0, 8).join(', ')}${byName.size > 8 ? ', …' : ''} or an integer`,
            value,
          );
        v = known;
      } else v = toIntBig(value, bits, signed, path);
      let x = BigInt.asUintN(bits, v);
      for (let i = 0; i < size; i++) {
        view.setUint8(off + i, Number(x & 0xffn));
        x >>= 8n;
      }
    },
    read(view: DataView, off: number) {
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(off + i));
      return out(signed ? BigInt.asIntN(bits, v) : v);
    },
    zero: () => out(0n),
    encode: (value: string | number | bigint, o?: Uint8Array, offset = 0): Uint8Array => encodeWith(c, value, o, offset, cname),
    decode: (bytes: Uint8Array, offset: number | DecodeOptions = 0) => decodeWith(c, bytes, offset),
  });
  return c;
}

/**
 * Checks that `codec` has the size and member offsets the object's BTF gave (a generated module
 * calls it for each type as it loads), so a module and a library that disagree fail at once. `offsets`:
 * member name → byte offset.
 * @throws {Error} naming the type and the first difference.
 */
export function checkLayout(codec: Codec<unknown>, size: number, offsets: Readonly<Record<string, number>> = {}): void {
  const why = (s: string) =>
    new Error(`${codec.name}: ${s} (the generated module and this version of bpfmap disagree: regenerate it)`);
  if (codec.size !== size) throw why(`BTF gives ${size} bytes, the codec has ${codec.size}`);
  const fields = (codec as { fields?: readonly StructField[] }).fields ?? [];
  for (const [name, want] of Object.entries(offsets)) {
    const f = fields.find((x) => x.name === name);
    if (f === undefined) throw why(`BTF has a member ${name}, the codec has none`);
    if (f.offset !== want) throw why(`member ${name} is at offset ${want} in BTF, the codec has it at ${f.offset}`);
  }
}
