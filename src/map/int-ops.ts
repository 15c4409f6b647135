/**
 * The integer helpers' pieces (lookupInt, updateInt, deleteInt, getNextKeyInt and the struct
 * helpers' integer keys): little-endian unsigned integers of the map's key and value widths, and
 * the scratch they are encoded into. `BpfMap`'s int methods stay in map.ts (lookupInt and updateInt
 * are hot paths); these small functions are what V8 inlines into them.
 */
import { viewOf } from '../codec/codec.js';
import { readUintLE, toIntBig, writeUintLE } from '../codec/scalar.js';
import type { LookupOptions } from './options.js';

/**
 * The int helpers' scratch, one per map, buffers made on first use. `key` is written last before
 * the syscall that consumes it (after the value and options are read); `value`/`lookupOpts` are
 * what lookupInt hands `lookup` as `out` and decodes straight from.
 */
export class IntScratch {
  key: Uint8Array | undefined = undefined;
  keyView: DataView | undefined = undefined;
  value: Uint8Array | undefined = undefined;
  valueView: DataView | undefined = undefined;
  lookupOpts: LookupOptions | undefined = undefined;
}

/** Encodes integer `key` into the scratch key of `keySize` bytes and returns it. @throws {TypeError|RangeError} */
export function intKey(s: IntScratch, keySize: number, key: unknown, command: string): Uint8Array {
  if (keySize < 1 || keySize > 8)
    throw new TypeError(`${command}: integer keys need a key_size of 1 to 8 bytes; this map's is ${keySize}`);
  if (s.key === undefined) {
    s.key = new Uint8Array(keySize);
    s.keyView = viewOf(s.key);
  }
  // Fast path: a u32-sized number into a key of 4 or more bytes (no BigInt).
  if (typeof key === 'number' && keySize >= 4 && key >= 0 && key <= 0xffff_ffff && Number.isInteger(key)) {
    s.key.fill(0);
    (s.keyView as DataView).setUint32(0, key, true);
    return s.key;
  }
  writeUintLE(s.key, 0, keySize, toIntBig(key, keySize * 8, false, 'key'));
  return s.key;
}

/** Refuses value sizes an integer cannot have. */
export function intWidth(valueSize: number, command: string): void {
  if (valueSize < 1 || valueSize > 8)
    throw new TypeError(`${command}: integer values need a value_size of 1 to 8 bytes; this map's is ${valueSize}`);
}

/** The scratch value of `valueBufferSize` bytes (and its lookup options), made on first use. */
export function intValue(s: IntScratch, valueBufferSize: number): Uint8Array {
  if (s.value === undefined) {
    s.value = new Uint8Array(valueBufferSize);
    s.valueView = viewOf(s.value);
    s.lookupOpts = { out: s.value };
  }
  return s.value;
}

/** The little-endian unsigned integer of `size` bytes at `offset` of the scratch value. */
export function readInt(s: IntScratch, offset: number, size: number): bigint {
  const view = s.valueView as DataView;
  switch (size) {
    case 8:
      return view.getBigUint64(offset, true);
    case 4:
      return BigInt(view.getUint32(offset, true));
    case 2:
      return BigInt(view.getUint16(offset, true));
    case 1:
      return BigInt(view.getUint8(offset));
    default:
      return readUintLE(s.value as Uint8Array, offset, size);
  }
}

/** Integer `v` as a fresh little-endian value of `size` bytes. @throws {RangeError} naming `path`. */
export function encodeInt(v: unknown, size: number, path: string): Uint8Array {
  const b = new Uint8Array(size);
  writeUintLE(b, 0, size, toIntBig(v, size * 8, false, path));
  return b;
}

/** A key as an unsigned integer (getNextKeyInt's result). */
export function decodeKey(key: Uint8Array, keySize: number): bigint {
  return readUintLE(key, 0, keySize);
}
