/**
 * LPM-trie keys: `struct bpf_lpm_trie_key { __u32 prefixlen; __u8 data[]; }`,
 * the prefix length in host order followed by the address bytes in network
 * order (as given).
 */
import { describe } from './validate.js';

/**
 * `lpmKey(24, [10, 0, 0, 0])` → the 8-byte key for 10.0.0.0/24.
 * @throws {TypeError} when `bytes` is not bytes. @throws {RangeError} when `prefixLen` is not 0..8×bytes.length.
 */
export function lpmKey(prefixLen: number, bytes: Uint8Array | readonly number[]): Uint8Array {
  let data: Uint8Array;
  if (bytes instanceof Uint8Array) data = bytes;
  else if (Array.isArray(bytes) && bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) data = Uint8Array.from(bytes);
  else throw new TypeError(`lpmKey: bytes must be a Uint8Array or an array of byte values, got ${describe(bytes)}`);
  const max = data.length * 8;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max)
    throw new RangeError(
      `lpmKey: prefixLen must be an integer from 0 to ${max} (8 × ${data.length} bytes), got ${String(prefixLen)}`,
    );
  const key = new Uint8Array(4 + data.length);
  new Uint32Array(key.buffer, 0, 1)[0] = prefixLen; // host order
  key.set(data, 4);
  return key;
}
