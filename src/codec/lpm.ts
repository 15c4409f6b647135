/**
 * LPM-trie keys: `struct bpf_lpm_trie_key { __u32 prefixlen; __u8 data[]; }`,
 * the prefix length in host order followed by the address bytes in network
 * order (as given).
 */
import { type Codec, decodeWith, encodeWith, fieldError } from './codec.js';
import { describeValue } from '../validate.js';

/**
 * `lpmKey(24, [10, 0, 0, 0])` → the 8-byte key for 10.0.0.0/24.
 * @throws {TypeError} when `bytes` is not bytes. @throws {RangeError} when `prefixLen` is not 0..8×bytes.length.
 */
export function lpmKey(prefixLen: number, bytes: Uint8Array | readonly number[]): Uint8Array {
  let data: Uint8Array;
  if (bytes instanceof Uint8Array) data = bytes;
  else if (Array.isArray(bytes) && bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) data = Uint8Array.from(bytes);
  else throw new TypeError(`lpmKey: bytes must be a Uint8Array or an array of byte values, got ${describeValue(bytes)}`);
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

/** An LPM-trie key codec for IP prefixes written as text: `'10.1.0.0/16'`, `'2001:db8::/32'`. */
export interface LpmPrefixCodec extends Codec<string> {
  readonly kind: 'scalar';
}

function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.map(Number);
}

function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as string;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0 || (halves.length === 2 && fill < 1)) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function formatIPv6(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => ((b[2 * i] as number) << 8) | (b[2 * i + 1] as number));
  // The longest run of zero groups (two or more) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function prefixCodec(family: 4 | 6): LpmPrefixCodec {
  const n = family === 4 ? 4 : 16;
  const name = `lpm_ipv${family}_key`;
  const example = family === 4 ? '10.1.0.0/16' : '2001:db8::/32';
  const c: LpmPrefixCodec = {
    kind: 'scalar',
    name,
    size: 4 + n,
    align: 4,
    write(view, offset, value, path) {
      if (typeof value !== 'string') throw fieldError(path, `an IPv${family} prefix such as "${example}"`, value);
      const [addr = '', len, extra] = value.split('/');
      const bytes = family === 4 ? parseIPv4(addr) : parseIPv6(addr);
      const plen = len === undefined ? n * 8 : /^\d{1,3}$/.test(len) ? Number(len) : Number.NaN;
      if (!bytes || extra !== undefined || !(plen >= 0 && plen <= n * 8))
        throw fieldError(path, `an IPv${family} prefix such as "${example}" (prefix length 0 to ${n * 8})`, value, 'range');
      view.setUint32(offset, plen, true);
      bytes.forEach((b, i) => {
        view.setUint8(offset + 4 + i, b);
      });
    },
    read(view, offset) {
      const plen = view.getUint32(offset, true);
      const b = new Uint8Array(view.buffer, view.byteOffset + offset + 4, n);
      return `${family === 4 ? Array.from(b).join('.') : formatIPv6(b)}/${plen}`;
    },
    zero: () => (family === 4 ? '0.0.0.0/0' : '::/0'),
    encode: (value, out, offset = 0) => encodeWith(c, value, out, offset, name),
    decode: (bytes, offset = 0) => decodeWith(c, bytes, offset),
  };
  return Object.freeze(c);
}

/** LPM-trie keys for IPv4 prefixes as text (`'192.168.0.0/16'`; no `/len` means /32): 8-byte keys. */
export const lpmIPv4: LpmPrefixCodec = prefixCodec(4);
/** LPM-trie keys for IPv6 prefixes as text (`'2001:db8::/32'`; no `/len` means /128): 20-byte keys. */
export const lpmIPv6: LpmPrefixCodec = prefixCodec(6);
