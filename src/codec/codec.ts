/**
 * The `Codec<T>` interface every key/value type implements, and the path-aware
 * errors codecs throw. A codec turns a JavaScript value into the exact bytes
 * the C side sees, and back.
 */
import { describeValue } from '../validate.js';

/** Encodes and decodes values of type `T` as `size` bytes. */
export interface Codec<T> {
  /** What kind of codec: a scalar (`u32`…), a struct, an array, a string, a spin lock. */
  readonly kind: 'scalar' | 'struct' | 'array' | 'cstring' | 'spinlock' | 'enum' | 'union' | 'bitfield';
  /** The C name: `u32`, `struct flow`, `u8[16]`, … */
  readonly name: string;
  /** Bytes, as `sizeof` gives them. */
  readonly size: number;
  /** Alignment, as `_Alignof` gives it. */
  readonly align: number;
  /**
   * Encodes `value` into `out` at `offset` (a new `size`-byte buffer when `out` is omitted) and returns `out`.
   * @throws {TypeError|RangeError} naming the field path when `value` does not fit.
   */
  encode(value: T, out?: Uint8Array, offset?: number): Uint8Array;
  /**
   * Decodes `size` bytes of `bytes` at `offset` (a number, or `{ offset }`).
   * With `{ partial: true }` a struct (or union, or BTF datasec) may be given
   * fewer bytes than its size — a variable-length record, as bcc tools send:
   * the record then holds only the fields wholly present; a field the bytes
   * end in the middle of (a nested struct included) is left out, as are the
   * fields after it. Other codecs still need all their bytes.
   * @throws {RangeError} when the bytes are too short (and not a partial struct decode).
   */
  decode(bytes: Uint8Array, offset?: number | DecodeOptions): T;
  /** The zero value (all bytes zero). */
  zero(): T;
  /** @internal Writes `value` at `offset`; `path` names the value in errors. */
  write(view: DataView, offset: number, value: unknown, path: string): void;
  /** @internal Reads the value at `offset`. */
  read(view: DataView, offset: number): T;
  /** @internal Structs: reads the fields wholly inside the first `avail` bytes at `offset`. */
  readPrefix?(view: DataView, offset: number, avail: number): T;
}

/** The second argument of `decode`. */
export interface DecodeOptions {
  /** Where the value starts in the buffer (default 0). */
  offset?: number;
  /** Decode a struct from fewer bytes than its size: only the fields wholly present (see `Codec.decode`). */
  partial?: boolean;
}

/** The decoded type of a codec: `Infer<typeof flow>`. */
export type Infer<C> = C extends Codec<infer T> ? T : never;

/** A value does not fit its codec: the message starts with the field path (`flow.src[2]`). */
export function fieldError(path: string, expected: string, got: unknown, cls: 'type' | 'range' = 'type'): Error {
  const msg = `${path}: expected ${expected}, got ${describeValue(got)}`;
  return cls === 'range' ? new RangeError(msg) : new TypeError(msg);
}

export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Shared encode/decode around write/read, with bounds checks on caller buffers. */
export function encodeWith<T>(c: Codec<T>, value: T, out: Uint8Array | undefined, offset: number, path: string): Uint8Array {
  const buf = out ?? new Uint8Array(c.size);
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${path}: out must be a Uint8Array`);
  if (!Number.isInteger(offset) || offset < 0 || offset + c.size > buf.length)
    throw new RangeError(`${path}: ${c.size} bytes do not fit in a ${buf.length}-byte buffer at offset ${offset}`);
  c.write(viewOf(buf), offset, value, path);
  return buf;
}

export function decodeWith<T>(c: Codec<T>, bytes: Uint8Array, at: number | DecodeOptions | undefined): T {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${c.name}: decode takes a Uint8Array, got ${describeValue(bytes)}`);
  let offset = at ?? 0;
  let partial = false;
  if (typeof offset === 'object' && offset !== null) {
    partial = offset.partial === true;
    offset = offset.offset ?? 0;
  }
  if (partial && c.readPrefix !== undefined && Number.isInteger(offset) && offset >= 0 && offset + c.size > bytes.length) {
    if (offset > bytes.length)
      throw new RangeError(`${c.name}: offset ${offset} is past the end of the ${bytes.length}-byte buffer`);
    return c.readPrefix(viewOf(bytes), offset, bytes.length - offset);
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset + c.size > bytes.length)
    throw new RangeError(`${c.name}: needs ${c.size} bytes at offset ${offset}, the buffer has ${bytes.length}`);
  return c.read(viewOf(bytes), offset);
}

/** The root of the field paths `encode` reports: a struct's bare name (`flow`), otherwise the codec's name. */
export function rootPath(c: Codec<unknown>): string {
  return c.kind === 'struct' ? c.name.replace(/^struct /, '') : c.name;
}
