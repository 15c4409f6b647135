/** Argument checks made before any syscall. Each throws a TypeError/RangeError that names what was expected. */

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'symbol') return v.toString();
  if (typeof v === 'bigint') return `the bigint ${v}n`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : `${typeof v} ${String(v)}`;
}

/** An integer in [min, max]. */
export function checkInt(what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number') throw new TypeError(`${what} must be an integer from ${min} to ${max}, got ${describe(v)}`);
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
  if (!(v instanceof Uint8Array))
    throw new TypeError(
      `${what} must be a Uint8Array of ${atLeast ? 'at least ' : ''}${size} bytes (${because}), got ${describe(v)}`,
    );
  if (atLeast ? v.length < size : v.length !== size)
    throw new RangeError(`${what} must be ${atLeast ? 'at least ' : ''}${size} bytes (${because}), got ${v.length}`);
  return v;
}

/** A filesystem path the kernel can take. */
export function checkPath(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${what} must be a non-empty path string, got ${describe(v)}`);
  if (v.includes('\0')) throw new TypeError(`${what} must not contain NUL characters`);
  if (Buffer.byteLength(v) >= 4096) throw new RangeError(`${what} must be shorter than 4096 bytes (PATH_MAX)`);
  return v;
}

/** A map name as the kernel accepts it: null/'' or up to 15 of `A-Za-z0-9_.`. */
export function checkMapName(v: unknown, what = 'map name'): string {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string or null, got ${describe(v)}`);
  if (v.length > 15) throw new RangeError(`${what} ${JSON.stringify(v)} is ${v.length} characters; the kernel takes at most 15`);
  const bad = /[^A-Za-z0-9_.]/.exec(v);
  if (bad) throw new RangeError(`${what} ${JSON.stringify(v)} has ${JSON.stringify(bad[0])}; only A-Z a-z 0-9 _ . are allowed`);
  return v;
}

export { describe };
