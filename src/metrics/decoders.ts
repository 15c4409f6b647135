/**
 * Label decoders: each checks that a key field fits it, then turns the field's bytes into a label
 * value. They read straight from a batch's bytes.
 */
import { errnoName } from '../api.js';
import type { DecoderName } from './config.js';
import { cgroupPath, ifName, ksymName, syscallName } from './kernel-names.js';
import { type FieldInfo, bigReader, numberReader } from './layout.js';

/** Reads a label value from an entry's key bytes (`bytes`/`view` at `base`). */
export type LabelReader = (bytes: Uint8Array, view: DataView, base: number) => string;

const utf8 = new TextDecoder('utf-8');
const isInt = (f: FieldInfo) => (f.kind === 'uint' || f.kind === 'int' || f.kind === 'bool') && [1, 2, 4, 8].includes(f.size);

function intReader(f: FieldInfo, name: DecoderName): ((v: DataView, b: number) => number) | string {
  if (!isInt(f)) return `decoder ${name} needs an integer field; ${f.path} is ${f.cType}`;
  return numberReader(f) as (v: DataView, b: number) => number;
}

/** Builds the reader of `decoder` for field `f`, or says why the field does not fit the decoder. */
export function labelReader(decoder: DecoderName, f: FieldInfo): LabelReader | string {
  const o = f.offset;
  switch (decoder) {
    case 'uint': {
      if (!isInt(f)) return `decoder uint needs an integer field; ${f.path} is ${f.cType} (a char array takes decoder string)`;
      if (f.size === 8) {
        const r = bigReader(f);
        if (r && !f.bigEndian)
          return f.kind === 'int' ? (_b, v, b) => v.getBigInt64(b + o, true).toString() : (_b, v, b) => r(v, b).toString();
      }
      const r = numberReader(f) as (v: DataView, b: number) => number;
      return (_b, v, b) => String(r(v, b));
    }
    case 'string': {
      if (f.kind !== 'chars' && f.kind !== 'bytes') return `decoder string needs a char array; ${f.path} is ${f.cType}`;
      const n = f.size;
      return (bytes, _v, b) => {
        const start = b + o;
        let end = start;
        const stop = start + n;
        while (end < stop && bytes[end] !== 0) end++;
        return utf8.decode(bytes.subarray(start, end));
      };
    }
    case 'ipv4':
      if (f.size !== 4 || f.kind === 'float' || f.kind === 'struct')
        return `decoder ipv4 needs a 4-byte field (__be32 or u8[4], network order); ${f.path} is ${f.cType}`;
      return (bytes, _v, b) => `${bytes[b + o]}.${bytes[b + o + 1]}.${bytes[b + o + 2]}.${bytes[b + o + 3]}`;
    case 'ipv6':
      if (f.size !== 16 || f.kind === 'float')
        return `decoder ipv6 needs a 16-byte field (u8[16] or struct in6_addr); ${f.path} is ${f.cType}`;
      return (bytes, _v, b) => ipv6Text(bytes, b + o);
    case 'ksym': {
      const r = bigReader(f);
      if (!r) return `decoder ksym needs a 64-bit address field; ${f.path} is ${f.cType}`;
      return (_b, v, b) => ksymName(r(v, b));
    }
    case 'cgroup': {
      const r = bigReader(f);
      if (!r) return `decoder cgroup needs a 64-bit cgroup id field; ${f.path} is ${f.cType}`;
      return (_b, v, b) => cgroupPath(r(v, b));
    }
    case 'syscall': {
      const r = intReader(f, decoder);
      if (typeof r === 'string') return r;
      return (_b, v, b) => syscallName(r(v, b));
    }
    case 'errno': {
      const r = intReader(f, decoder);
      if (typeof r === 'string') return r;
      // Kernel code stores -errno as often as errno: both name the error. 0 is success.
      return (_b, v, b) => {
        const n = Math.abs(r(v, b));
        return n === 0 ? '0' : errnoName(n);
      };
    }
    case 'ifname': {
      const r = intReader(f, decoder);
      if (typeof r === 'string') return r;
      return (_b, v, b) => ifName(r(v, b));
    }
  }
}

/** RFC 5952 text of 16 bytes at `at`: lower-case hex, the longest run of zero groups (2 or more) as `::`. */
export function ipv6Text(bytes: Uint8Array, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((bytes[at + 2 * i] as number) << 8) | (bytes[at + 2 * i + 1] as number));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
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
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
