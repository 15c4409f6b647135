/**
 * Argument checks of the fakes, made before anything is stored: the same error classes
 * (`TypeError` for the wrong kind of argument, `RangeError` for the wrong size or range) that
 * `BpfMap` throws before its syscalls.
 */

/** A short description of `v` for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return `the bigint ${v}n`;
  if (typeof v === 'symbol') return v.toString();
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? ((v as object).constructor?.name ?? 'an object') : `${typeof v} ${String(v)}`;
}

/** An integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${what} must be an integer from ${min} to ${max}, got ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/** A u32: sizes, counts, map flags. */
export function checkU32(what: string, v: unknown): number {
  return checkInt(what, v, 0, 0xffff_ffff);
}

/** Element flags: a non-negative safe integer (the kernel field is a u64). */
export function checkFlags(what: string, v: unknown): number {
  return checkInt(what, v, 0, Number.MAX_SAFE_INTEGER);
}

/** A Uint8Array of exactly `size` bytes. */
export function checkBytes(what: string, v: unknown, size: number, because: string): Uint8Array {
  if (!(v instanceof Uint8Array))
    throw new TypeError(`${what} must be a Uint8Array of ${size} bytes (${because}), got ${describe(v)}`);
  if (v.length !== size) throw new RangeError(`${what} must be ${size} bytes (${because}), got ${v.length}`);
  return v;
}

/** The elements of an array argument, each read once; a hole is a TypeError naming its index. */
export function arrayElements(what: string, v: readonly unknown[]): unknown[] {
  const out = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    if (!(i in v)) throw new TypeError(`${what}[${i}] is a hole (a sparse array): every element must be given`);
    out[i] = v[i];
  }
  return out;
}

/** A map name as the kernel accepts it: null/'' or up to 15 of `A-Za-z0-9_.`. */
export function checkMapName(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new TypeError(`map name must be a string or null, got ${describe(v)}`);
  if (v.length > 15) throw new RangeError(`map name ${JSON.stringify(v)} is ${v.length} characters; the kernel takes at most 15`);
  const bad = /[^A-Za-z0-9_.]/.exec(v);
  if (bad) throw new RangeError(`map name ${JSON.stringify(v)} has ${JSON.stringify(bad[0])}; only A-Z a-z 0-9 _ . are allowed`);
  return v;
}

/** `v` as a bigint of `bits` unsigned bits. */
export function toUint(v: unknown, bits: number, what: string): bigint {
  const hi = (1n << BigInt(bits)) - 1n;
  const range = `an integer from 0 to ${hi}`;
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RangeError(`${what}: expected ${range}, got ${v}`);
    if (!Number.isSafeInteger(v))
      throw new RangeError(`${what}: expected ${range} (pass numbers beyond 2^53 as bigint), got ${v}`);
    b = BigInt(v);
  } else throw new TypeError(`${what}: expected ${range} (number or bigint), got ${describe(v)}`);
  if (b < 0n || b > hi) throw new RangeError(`${what}: expected ${range}, got ${v}`);
  return b;
}

/** Writes `v` little-endian into `size` bytes of `out` at `offset`. */
export function writeUintLE(out: Uint8Array, offset: number, size: number, v: bigint): void {
  let x = v;
  for (let i = 0; i < size; i++) {
    out[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

/** The little-endian unsigned integer of `size` bytes of `b` at `offset`. */
export function readUintLE(b: Uint8Array, offset: number, size: number): bigint {
  let x = 0n;
  for (let i = size - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[offset + i] as number);
  return x;
}

/** `n` rounded up to a multiple of 8: the stride of one CPU's slot in a per-CPU value. */
export function roundUp8(n: number): number {
  return (n + 7) & ~7;
}
