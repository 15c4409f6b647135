/** Argument checks made before any syscall. Each throws a TypeError/RangeError that names what was expected. */

/*
 * Lengths come from the typed array's own data through the intrinsic
 * getters, captured at load: a subclass (or an own property) can make
 * `.length` say anything, and a Proxy of a Uint8Array passes `instanceof`
 * but runs traps on every read. These getters run no user code.
 */
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsicGetter(o: object, key: PropertyKey): (this: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(o, key)?.get;
  if (get === undefined) throw new Error(`bpfmap: no intrinsic getter ${String(key)}`);
  return get as (this: unknown) => unknown;
}
const tagOf = intrinsicGetter(TYPED_ARRAY, Symbol.toStringTag);
const lengthOf = intrinsicGetter(TYPED_ARRAY, 'length');
const bufferOf = intrinsicGetter(TYPED_ARRAY, 'buffer');
const resizableOf = 'resizable' in ArrayBuffer.prototype ? intrinsicGetter(ArrayBuffer.prototype, 'resizable') : undefined;

/** The real length of a Uint8Array (Buffer and subclasses included), or -1 for anything else (proxies too). */
export function bytesLength(v: unknown): number {
  return tagOf.call(v) === 'Uint8Array' ? (lengthOf.call(v) as number) : -1;
}

/** Why a Uint8Array of length 0 cannot be used: its ArrayBuffer was detached, or shrunk below the view. */
function unusable(v: Uint8Array): string | undefined {
  if (lengthOf.call(v) !== 0) return undefined;
  const buf = bufferOf.call(v) as ArrayBufferLike;
  if (typeof SharedArrayBuffer === 'function' && buf instanceof SharedArrayBuffer) return undefined;
  try {
    new Uint8Array(buf as ArrayBuffer, 0, 0); // throws on a detached buffer
  } catch {
    return 'detached (transferred or released)';
  }
  if (resizableOf?.call(buf) === true) return 'resized below the view';
  return undefined;
}

/**
 * What a value is, for "expected X, got Y" messages: the one describer of bad input (codecs, checks,
 * map paths). Values as they would be written (`-3`, `"abc"`, `5n`), byte views by their length,
 * objects by their class; never a function's source nor a whole long string.
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'function') return 'a function';
  if (v === null || v === undefined || typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  const n = bytesLength(v);
  if (n >= 0) return `${n} bytes`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  return v.constructor?.name ?? 'an object';
}

/** An integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${what} must be an integer from ${min} to ${max}, got ${describeValue(v)}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

export const U32_MAX = 0xffff_ffff;

/** A u32, e.g. a size, an id or flags. */
export function checkU32(what: string, v: unknown): number {
  return checkInt(what, v, 0, U32_MAX);
}

/** Element-operation flags: a non-negative safe integer (the kernel field is u64). */
export function checkFlags(what: string, v: unknown): number {
  return checkInt(what, v, 0, Number.MAX_SAFE_INTEGER);
}

/** An fd number. */
export function checkFd(what: string, v: unknown): number {
  return checkInt(what, v, 0, 0x7fff_ffff);
}

/** A Uint8Array of exactly `size` bytes (or at least `size` when `atLeast`). */
export function checkBytes(what: string, v: unknown, size: number, because: string, atLeast = false): Uint8Array {
  const n = bytesLength(v);
  if (n < 0)
    throw new TypeError(
      `${what} must be a Uint8Array of ${atLeast ? 'at least ' : ''}${size} bytes (${because}), got ${describeValue(v)}`,
    );
  if (atLeast ? n < size : n !== size) {
    const why = size > 0 ? unusable(v as Uint8Array) : undefined;
    if (why !== undefined)
      throw new TypeError(`${what}'s ArrayBuffer was ${why}: pass a Uint8Array of ${size} bytes (${because})`);
    throw new RangeError(`${what} must be ${atLeast ? 'at least ' : ''}${size} bytes (${because}), got ${n}`);
  }
  return v as Uint8Array;
}

/**
 * The straight-line paths' test: `v` is a Uint8Array of exactly `n` elements (n >= 1; -1 never
 * matches), judged from its elements rather than its overridable `length`. `isView` rules out
 * proxies before any element is read; elements of a real typed array run no user code.
 */
export function isBytesOf(v: unknown, n: number): v is Uint8Array {
  return ArrayBuffer.isView(v) && v instanceof Uint8Array && v[n - 1] !== undefined && v[n] === undefined;
}

/**
 * The elements of an array argument, each read once (a hole is a TypeError naming its index),
 * so that getters and proxy traps have all run before anything is checked or staged.
 */
export function arrayElements(what: string, v: readonly unknown[]): unknown[] {
  const n = v.length;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) {
    if (!(i in v)) throw new TypeError(`${what}[${i}] is a hole (a sparse array): every element must be given`);
    out[i] = v[i];
  }
  return out;
}

/** A filesystem path the kernel can take. */
export function checkPath(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new TypeError(`${what} must be a non-empty path string, got ${describeValue(v)}`);
  if (v.includes('\0')) throw new TypeError(`${what} must not contain NUL characters`);
  if (Buffer.byteLength(v) >= 4096) throw new RangeError(`${what} must be shorter than 4096 bytes (PATH_MAX)`);
  return v;
}

/** A map name as the kernel accepts it: null/'' or up to 15 of `A-Za-z0-9_.`. */
export function checkMapName(v: unknown, what = 'map name'): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string or null, got ${describeValue(v)}`);
  if (v.length > 15) throw new RangeError(`${what} ${JSON.stringify(v)} is ${v.length} characters; the kernel takes at most 15`);
  const bad = /[^A-Za-z0-9_.]/.exec(v);
  if (bad) throw new RangeError(`${what} ${JSON.stringify(v)} has ${JSON.stringify(bad[0])}; only A-Z a-z 0-9 _ . are allowed`);
  return v;
}
