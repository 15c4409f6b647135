/**
 * C-layout structs: `defineStruct(name, fields, opts?)`, `array(type, n)`,
 * `cstring(n)` and `bpfSpinLock`. Layout follows the C ABI of x86-64 and
 * arm64 (natural alignment, inner and trailing padding), or packed. The record
 * type is inferred from the field definitions.
 */
import { describeValue } from '../validate.js';
import { type Codec, decodeWith, encodeWith, fieldError } from './codec.js';
import { SCALARS, type ScalarName, type ScalarValue } from './scalar.js';

/**
 * Sets a record's field as an own property whatever its name: `rec.__proto__ = v` would set the
 * prototype instead (C allows a member named `__proto__`).
 */
export function putField(rec: Record<string, unknown>, name: string, v: unknown): void {
  if (name === '__proto__') Object.defineProperty(rec, name, { value: v, writable: true, enumerable: true, configurable: true });
  else rec[name] = v;
}

/** A record's own field `name` (undefined when absent), never one inherited: `__proto__` is a field like any other. */
export function getField(rec: Record<string, unknown>, name: string): unknown {
  return name === '__proto__' && !Object.hasOwn(rec, name) ? undefined : rec[name];
}

/** What a struct field may be: a scalar by name, or any codec (scalar, struct, array, cstring, spin lock). */
export type FieldType = ScalarName | Codec<unknown>;

/** The record value of a field type. */
export type FieldValue<F> = F extends ScalarName ? ScalarValue<F> : F extends Codec<infer T> ? T : never;

/** `struct bpf_spin_lock`: 4 bytes, never part of records. */
export interface SpinLockType extends Codec<never> {
  readonly kind: 'spinlock';
}

/** The record a struct with these fields decodes to; spin-lock fields are left out. */
export type RecordOf<F extends Record<string, FieldType>> = {
  -readonly [K in keyof F as F[K] extends SpinLockType ? never : K]: FieldValue<F[K]>;
};

/** One field of a struct codec: its name, byte offset, size and codec. */
export interface StructField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly type: Codec<unknown>;
  /** Bitfields only (structs read from BTF): the offset in bits from the struct's start. */
  readonly bitOffset?: number;
}

export interface StructType<R> extends Codec<R> {
  readonly kind: 'struct';
  readonly packed: boolean;
  readonly fields: readonly StructField[];
  /** A record with every field zero, then the given fields set. */
  make(partial?: Partial<R>): R;
}

export interface ArrayType<T> extends Codec<T[]> {
  readonly kind: 'array';
  readonly element: Codec<T>;
  readonly length: number;
}

export interface CStringType extends Codec<string> {
  readonly kind: 'cstring';
  readonly length: number;
}

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
  throw new TypeError(
    `${path}: field type must be a scalar name or a codec (defineStruct, array, cstring, bpfSpinLock), got ${describeValue(t)}`,
  );
}

function finish<C extends Codec<unknown>>(c: C): C {
  return Object.freeze(c);
}

/** `bpf_spin_lock`: zeroed on encode, left out of records. The kernel requires it at top level of a map value, 4-byte aligned. */
export const bpfSpinLock: SpinLockType = finish<SpinLockType>({
  kind: 'spinlock',
  name: 'struct bpf_spin_lock',
  size: 4,
  align: 4,
  write: (view, offset) => view.setUint32(offset, 0, true),
  read: () => undefined as never,
  zero: () => undefined as never,
  encode(_value, out, offset = 0) {
    return encodeWith(bpfSpinLock, undefined as never, out, offset, 'bpf_spin_lock');
  },
  decode: () => undefined as never,
});

/** A fixed-length array of `n` elements: `array('u8', 16)`, `array(flow, 4)`. */
export function array<F extends FieldType>(type: F, n: number): ArrayType<FieldValue<F>> {
  const element = resolve(type, 'array element') as Codec<FieldValue<F>>;
  if (!Number.isInteger(n) || n < 1 || n > 1 << 24)
    throw new RangeError(`array length must be an integer from 1 to ${1 << 24}, got ${describeValue(n)}`);
  if (element.kind === 'spinlock') throw new TypeError('an array of bpf_spin_lock is not allowed');
  const name = `${element.name}[${n}]`;
  const c: ArrayType<FieldValue<F>> = finish({
    kind: 'array',
    name,
    size: element.size * n,
    align: element.align,
    element,
    length: n,
    write(view, offset, value, path) {
      const isArrayLike = Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
      if (!isArrayLike) throw fieldError(path, `an array of ${n} ${element.name}`, value);
      const arr = value as ArrayLike<unknown>;
      if (arr.length !== n) throw fieldError(path, `an array of ${n} ${element.name}`, value, 'range');
      for (let i = 0; i < n; i++) element.write(view, offset + i * element.size, arr[i], `${path}[${i}]`);
    },
    read(view, offset) {
      const out = new Array<FieldValue<F>>(n);
      for (let i = 0; i < n; i++) out[i] = element.read(view, offset + i * element.size);
      return out;
    },
    zero: () => Array.from({ length: n }, () => element.zero()),
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, name),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  });
  return c;
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** A `char[n]` holding a UTF-8 string: at most `n` bytes, NUL-padded; decoding stops at the first NUL. */
export function cstring(n: number): CStringType {
  if (!Number.isInteger(n) || n < 1 || n > 1 << 24)
    throw new RangeError(`cstring length must be an integer from 1 to ${1 << 24}, got ${describeValue(n)}`);
  const c: CStringType = finish({
    kind: 'cstring',
    name: `char[${n}]`,
    size: n,
    align: 1,
    length: n,
    write(view, offset, value, path) {
      if (typeof value !== 'string') throw fieldError(path, `a string of at most ${n} bytes`, value);
      const bytes = utf8.encode(value);
      if (bytes.length > n) throw new RangeError(`${path}: expected a string of at most ${n} bytes, got ${bytes.length} bytes`);
      const target = new Uint8Array(view.buffer, view.byteOffset + offset, n);
      target.fill(0);
      target.set(bytes);
    },
    read(view, offset) {
      const b = new Uint8Array(view.buffer, view.byteOffset + offset, n);
      const nul = b.indexOf(0);
      return utf8d.decode(nul < 0 ? b : b.subarray(0, nul));
    },
    zero: () => '',
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, `char[${n}]`),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  });
  return c;
}

/** Options of `defineStruct`. */
export interface StructOptions {
  /** `__attribute__((packed))`: no padding, alignment 1. */
  packed?: boolean;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Defines a C struct from an ordered object of field name → type; the record
 * type is inferred (`Infer<typeof flow>`).
 *
 * ```ts
 * const flow = defineStruct('flow', { src: 'be32', dst: 'be32', port: 'be16', proto: 'u8' });
 * flow.size === 12; flow.encode({ src: 0x0a000001, dst: 0x0a000002, port: 443, proto: 6 });
 * ```
 * @throws {TypeError} for unknown field types or names that are not C identifiers.
 */
export function defineStruct<const F extends Record<string, FieldType>>(
  name: string,
  fields: F,
  opts: StructOptions = {},
): StructType<RecordOf<F>> {
  if (typeof name !== 'string' || !IDENT.test(name))
    throw new TypeError(`struct name must be a C identifier, got ${describeValue(name)}`);
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    throw new TypeError(`${name}: fields must be an object of name → type`);
  const packed = opts.packed === true;
  const layout: StructField[] = [];
  let offset = 0;
  let align = 1;
  for (const [fname, ftype] of Object.entries(fields)) {
    if (!IDENT.test(fname)) throw new TypeError(`${name}.${fname}: field names must be C identifiers`);
    const type = resolve(ftype, `${name}.${fname}`);
    const a = packed ? 1 : type.align;
    offset = Math.ceil(offset / a) * a;
    layout.push(Object.freeze({ name: fname, offset, size: type.size, type }));
    offset += type.size;
    align = Math.max(align, a);
  }
  if (layout.length === 0) throw new TypeError(`${name}: a struct needs at least one field`);
  const size = Math.ceil(offset / align) * align;
  const dataFields = layout.filter((f) => f.type.kind !== 'spinlock');
  const known = new Set(dataFields.map((f) => f.name));
  type R = RecordOf<F>;

  const c: StructType<R> = finish({
    kind: 'struct',
    name: `struct ${name}`,
    size,
    align,
    packed,
    fields: Object.freeze(layout),
    write(view, base, value, path) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fieldError(path, `a ${name} record`, value);
      const rec = value as Record<string, unknown>;
      for (const k of Object.keys(rec)) {
        if (!known.has(k)) throw new TypeError(`${path}.${k}: unknown field (struct ${name} has ${[...known].join(', ')})`);
      }
      // Padding and spin locks are zeroed; fields are written over them.
      new Uint8Array(view.buffer, view.byteOffset + base, size).fill(0);
      for (const f of dataFields) {
        const v = getField(rec, f.name);
        if (v === undefined) throw new TypeError(`${path}.${f.name}: missing field (expected ${f.type.name})`);
        f.type.write(view, base + f.offset, v, `${path}.${f.name}`);
      }
    },
    read: recordReader<R>(dataFields),
    readPrefix(view, base, avail) {
      const rec: Record<string, unknown> = {};
      for (const f of dataFields) {
        if (f.offset + f.size > avail) break; // cut in the middle, or past the end: left out
        rec[f.name] = f.type.read(view, base + f.offset);
      }
      return rec as R;
    },
    zero() {
      const rec: Record<string, unknown> = {};
      for (const f of dataFields) putField(rec, f.name, f.type.zero());
      return rec as R;
    },
    make(partial?: Partial<R>) {
      const rec = c.zero() as Record<string, unknown>;
      if (partial !== undefined) {
        if (typeof partial !== 'object' || partial === null) throw fieldError(name, `a partial ${name} record`, partial);
        for (const [k, v] of Object.entries(partial)) {
          if (!known.has(k)) throw new TypeError(`${name}.${k}: unknown field (struct ${name} has ${[...known].join(', ')})`);
          if (v !== undefined) putField(rec, k, v);
        }
        // Validate by encoding once: make() never returns a record encode() would refuse.
        c.write(new DataView(new ArrayBuffer(size)), 0, rec, name);
      }
      return rec as R;
    },
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, name),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  });
  return c;
}

/**
 * A reader that builds each record with one object literal, so every record
 * of a struct shares one hidden class and decoding does no keyed stores.
 * Field names are C identifiers (checked by defineStruct), hence safe to
 * place in generated source.
 */
function recordReader<R>(fields: readonly StructField[]): (view: DataView, base: number) => R {
  // A computed key defines an own property even for `__proto__` (a plain `__proto__:` would set the prototype).
  const key = (name: string) => (name === '__proto__' ? '["__proto__"]' : name);
  const body = fields.map((f, i) => `${key(f.name)}: t[${i}].read(view, base + ${f.offset})`).join(', ');
  const make = new Function('t', `return function read(view, base) { return { ${body} }; };`) as (
    t: readonly Codec<unknown>[],
  ) => (view: DataView, base: number) => R;
  return make(fields.map((f) => f.type));
}
