/**
 * Scalar codecs (`u8` … `u64`, `i8` … `i64`, big-endian `be16/be32/be64`,
 * `f32`, `f64`, `bool`) and the integer helpers `encodeIntKey` /
 * `decodeIntValue`. Little-endian unless the name says `be`.
 */
import { describeValue } from '../validate.js';
import { type Codec, decodeWith, encodeWith, fieldError } from './codec.js';

/** The name of a scalar field type, as `defineStruct` field specs spell it. */
export type ScalarName =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 'i8'
  | 'i16'
  | 'i32'
  | 'i64'
  | 'be16'
  | 'be32'
  | 'be64'
  | 'f32'
  | 'f64'
  | 'bool';

/** The JavaScript type of a scalar: 64-bit integers are `bigint`, `bool` is boolean, the rest `number`. */
export type ScalarValue<N extends ScalarName> = N extends 'u64' | 'i64' | 'be64' ? bigint : N extends 'bool' ? boolean : number;

export interface ScalarCodec<N extends ScalarName = ScalarName> extends Codec<ScalarValue<N>> {
  readonly kind: 'scalar';
  readonly name: N;
  /** Signed integer. */
  readonly signed: boolean;
}

/** Checks that `v` is an integer that fits `bits` (signed or not) and returns it as a bigint. */
export function toIntBig(v: unknown, bits: number, signed: boolean, path: string): bigint {
  const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const range = `an integer from ${lo} to ${hi}`;
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw fieldError(path, range, v, 'range');
    if (!Number.isSafeInteger(v)) throw fieldError(path, `${range} (pass numbers beyond 2^53 as bigint)`, v, 'range');
    b = BigInt(v);
  } else throw fieldError(path, `${range} (number or bigint)`, v);
  if (b < lo || b > hi) throw fieldError(path, range, v, 'range');
  return b;
}

function intNumber(v: unknown, bits: number, signed: boolean, path: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) {
    const lo = signed ? -(2 ** (bits - 1)) : 0;
    const hi = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    if (v >= lo && v <= hi) return v;
  }
  return Number(toIntBig(v, bits, signed, path));
}

function scalar<N extends ScalarName>(
  name: N,
  size: number,
  signed: boolean,
  write: (view: DataView, offset: number, value: unknown, path: string) => void,
  read: (view: DataView, offset: number) => ScalarValue<N>,
  zero: ScalarValue<N>,
): ScalarCodec<N> {
  const c: ScalarCodec<N> = {
    kind: 'scalar',
    name,
    size,
    align: size,
    signed,
    write,
    read,
    zero: () => zero,
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, name),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  };
  return Object.freeze(c);
}

/** Unsigned 8-bit integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const u8 = scalar(
  'u8',
  1,
  false,
  (v, o, x, p) => v.setUint8(o, intNumber(x, 8, false, p)),
  (v, o) => v.getUint8(o),
  0,
);
/** Unsigned 16-bit little-endian integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const u16 = scalar(
  'u16',
  2,
  false,
  (v, o, x, p) => v.setUint16(o, intNumber(x, 16, false, p), true),
  (v, o) => v.getUint16(o, true),
  0,
);
/** Unsigned 32-bit little-endian integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const u32 = scalar(
  'u32',
  4,
  false,
  (v, o, x, p) => v.setUint32(o, intNumber(x, 32, false, p), true),
  (v, o) => v.getUint32(o, true),
  0,
);
/** Unsigned 64-bit little-endian integer (`bigint`). @throws {RangeError} on encode, for a value out of range. */
export const u64 = scalar(
  'u64',
  8,
  false,
  (v, o, x, p) => v.setBigUint64(o, toIntBig(x, 64, false, p), true),
  (v, o) => v.getBigUint64(o, true),
  0n,
);
/** Signed 8-bit integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const i8 = scalar(
  'i8',
  1,
  true,
  (v, o, x, p) => v.setInt8(o, intNumber(x, 8, true, p)),
  (v, o) => v.getInt8(o),
  0,
);
/** Signed 16-bit little-endian integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const i16 = scalar(
  'i16',
  2,
  true,
  (v, o, x, p) => v.setInt16(o, intNumber(x, 16, true, p), true),
  (v, o) => v.getInt16(o, true),
  0,
);
/** Signed 32-bit little-endian integer (`number`). @throws {RangeError} on encode, for a value out of range. */
export const i32 = scalar(
  'i32',
  4,
  true,
  (v, o, x, p) => v.setInt32(o, intNumber(x, 32, true, p), true),
  (v, o) => v.getInt32(o, true),
  0,
);
/** Signed 64-bit little-endian integer (`bigint`). @throws {RangeError} on encode, for a value out of range. */
export const i64 = scalar(
  'i64',
  8,
  true,
  (v, o, x, p) => v.setBigInt64(o, toIntBig(x, 64, true, p), true),
  (v, o) => v.getBigInt64(o, true),
  0n,
);
/** Big-endian (network order) integers, e.g. ports and addresses in keys. */
export const be16 = scalar(
  'be16',
  2,
  false,
  (v, o, x, p) => v.setUint16(o, intNumber(x, 16, false, p), false),
  (v, o) => v.getUint16(o, false),
  0,
);
/** Unsigned 32-bit integer in network (big-endian) order (`number`). @throws {RangeError} on encode, for a value out of range. */
export const be32 = scalar(
  'be32',
  4,
  false,
  (v, o, x, p) => v.setUint32(o, intNumber(x, 32, false, p), false),
  (v, o) => v.getUint32(o, false),
  0,
);
/** Unsigned 64-bit integer in network (big-endian) order (`bigint`). @throws {RangeError} on encode, for a value out of range. */
export const be64 = scalar(
  'be64',
  8,
  false,
  (v, o, x, p) => v.setBigUint64(o, toIntBig(x, 64, false, p), false),
  (v, o) => v.getBigUint64(o, false),
  0n,
);

function float(v: unknown, path: string): number {
  if (typeof v !== 'number') throw fieldError(path, 'a number', v);
  return v;
}
/** 32-bit IEEE 754 float (`number`). */
export const f32 = scalar(
  'f32',
  4,
  true,
  (v, o, x, p) => v.setFloat32(o, float(x, p), true),
  (v, o) => v.getFloat32(o, true),
  0,
);
/** 64-bit IEEE 754 float (`number`). */
export const f64 = scalar(
  'f64',
  8,
  true,
  (v, o, x, p) => v.setFloat64(o, float(x, p), true),
  (v, o) => v.getFloat64(o, true),
  0,
);
/** C `_Bool`: one byte, 0 or 1; any non-zero byte decodes as true. */
export const bool = scalar(
  'bool',
  1,
  false,
  (v, o, x, p) => {
    if (typeof x !== 'boolean') throw fieldError(p, 'a boolean', x);
    v.setUint8(o, x ? 1 : 0);
  },
  (v, o) => v.getUint8(o) !== 0,
  false,
);

/** Every scalar codec by name. */
export const SCALARS: { readonly [N in ScalarName]: ScalarCodec<N> } = {
  u8,
  u16,
  u32,
  u64,
  i8,
  i16,
  i32,
  i64,
  be16,
  be32,
  be64,
  f32,
  f64,
  bool,
};

/** Writes `value` as a little-endian unsigned integer of `size` bytes (1..8) at `out[offset]`. */
export function writeUintLE(out: Uint8Array, offset: number, size: number, value: bigint): void {
  let v = value;
  for (let i = 0; i < size; i++) {
    out[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Reads a little-endian unsigned integer of `size` bytes (1..8). */
export function readUintLE(bytes: Uint8Array, offset: number, size: number): bigint {
  if (size === 4) return BigInt(viewOf32(bytes, offset));
  if (size === 8) return new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getBigUint64(0, true);
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[offset + i] ?? 0);
  return v;
}

function viewOf32(b: Uint8Array, offset: number): number {
  return ((b[offset] ?? 0) | ((b[offset + 1] ?? 0) << 8) | ((b[offset + 2] ?? 0) << 16) | ((b[offset + 3] ?? 0) << 24)) >>> 0;
}

/**
 * Encodes an integer as `size` little-endian bytes (size 1, 2, 4 or 8):
 * `encodeIntKey(42, 4)` → `[42, 0, 0, 0]`.
 * @throws {RangeError} when the value is negative, fractional, NaN or does not fit.
 */
export function encodeIntKey(value: number | bigint, size: number): Uint8Array {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8)
    throw new RangeError(`size must be 1, 2, 4 or 8, got ${describeValue(size)}`);
  const b = toIntBig(value, size * 8, false, 'value');
  const out = new Uint8Array(size);
  writeUintLE(out, 0, size, b);
  return out;
}

/** Decodes 1..8 little-endian bytes as an unsigned integer: `decodeIntValue([10,0,0,0,0,0,0,0])` → `10n`. */
export function decodeIntValue(bytes: Uint8Array): bigint {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`decodeIntValue takes a Uint8Array, got ${describeValue(bytes)}`);
  if (bytes.length < 1 || bytes.length > 8) throw new RangeError(`decodeIntValue takes 1 to 8 bytes, got ${bytes.length}`);
  return readUintLE(bytes, 0, bytes.length);
}
