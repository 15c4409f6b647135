/**
 * Codecs → BTF: the type description the kernel wants for a map's key and
 * value (field names in `bpftool map dump`, `bpf_spin_lock` for BPF_F_LOCK).
 * `BtfBuilder` turns scalar, array, cstring, struct and spin-lock codecs into
 * BTF types, sharing one type per distinct codec, and serialises the blob.
 */
import type { Codec } from '../codec/codec.js';
import type { ArrayType, CStringType, StructType } from '../codec/struct.js';
import type { BitfieldCodec } from './codecs.js';
import {
  BTF_HEADER_SIZE,
  BTF_INT_BOOL,
  BTF_INT_CHAR,
  BTF_INT_SIGNED,
  BTF_MAGIC,
  BTF_VERSION,
  BtfKind,
  btfInfo,
} from './kinds.js';

/** A codec BTF cannot express, or one the kernel would refuse (spin lock placement). */
export class BtfBuildError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'BtfBuildError';
  }
}

/** C names and sizes of the scalar codecs; be* are typedefs of the unsigned type (as in <linux/types.h>). */
const SCALAR_BTF: Record<string, { c: string; size: number; signed?: boolean; bool?: boolean; float?: boolean; be?: boolean }> = {
  u8: { c: 'unsigned char', size: 1 },
  u16: { c: 'unsigned short', size: 2 },
  u32: { c: 'unsigned int', size: 4 },
  u64: { c: 'unsigned long long', size: 8 },
  i8: { c: 'signed char', size: 1, signed: true },
  i16: { c: 'short', size: 2, signed: true },
  i32: { c: 'int', size: 4, signed: true },
  i64: { c: 'long long', size: 8, signed: true },
  be16: { c: 'unsigned short', size: 2, be: true },
  be32: { c: 'unsigned int', size: 4, be: true },
  be64: { c: 'unsigned long long', size: 8, be: true },
  f32: { c: 'float', size: 4, float: true },
  f64: { c: 'double', size: 8, float: true },
  bool: { c: '_Bool', size: 1, bool: true },
};

/** Builds a BTF blob (types and strings) from codecs, in the layout BPF_BTF_LOAD takes. */
export class BtfBuilder {
  /** Serialised types; type id i+1 is types[i]. */
  readonly #types: Uint8Array[] = [];
  readonly #strings: string[] = [''];
  readonly #stringOffsets = new Map<string, number>([['', 0]]);
  #stringBytes = 1;
  readonly #byCodec = new Map<Codec<unknown>, number>();
  readonly #byName = new Map<string, number>();

  /** Number of types so far (ids run from 1 to this). */
  get count(): number {
    return this.#types.length;
  }

  #str(s: string): number {
    const known = this.#stringOffsets.get(s);
    if (known !== undefined) return known;
    const off = this.#stringBytes;
    this.#strings.push(s);
    this.#stringOffsets.set(s, off);
    this.#stringBytes += Buffer.byteLength(s) + 1;
    return off;
  }

  #add(words: number[]): number {
    const b = new Uint8Array(words.length * 4);
    const v = new DataView(b.buffer);
    words.forEach((w, i) => {
      v.setUint32(i * 4, w >>> 0, true);
    });
    this.#types.push(b);
    return this.#types.length;
  }

  /** An integer type: `unsigned int`, `_Bool`, … (shared by C name). */
  int(name: string, size: number, opts: { signed?: boolean; bool?: boolean; char?: boolean } = {}): number {
    const key = `int:${name}`;
    const known = this.#byName.get(key);
    if (known !== undefined) return known;
    const enc = (opts.signed ? BTF_INT_SIGNED : 0) | (opts.bool ? BTF_INT_BOOL : 0) | (opts.char ? BTF_INT_CHAR : 0);
    const id = this.#add([this.#str(name), btfInfo(BtfKind.Int, 0), size, (enc << 24) | (size * 8)]);
    this.#byName.set(key, id);
    return id;
  }

  #named(kind: BtfKind, name: string, target: number): number {
    const key = `${kind}:${name}:${target}`;
    const known = this.#byName.get(key);
    if (known !== undefined) return known;
    const id = this.#add([this.#str(name), btfInfo(kind, 0), target]);
    this.#byName.set(key, id);
    return id;
  }

  /** `typedef target name`. */
  typedef(name: string, target: number): number {
    return this.#named(BtfKind.Typedef, name, target);
  }

  /** `elem[n]`, indexed by `unsigned int` as clang emits it. */
  array(elem: number, n: number): number {
    const key = `array:${elem}:${n}`;
    const known = this.#byName.get(key);
    if (known !== undefined) return known;
    const index = this.int('__ARRAY_SIZE_TYPE__', 4);
    const id = this.#add([0, btfInfo(BtfKind.Array, 0), 0, elem, index, n]);
    this.#byName.set(key, id);
    return id;
  }

  /** Bytes as `unsigned char[n]`: how a side without a codec is described. */
  bytes(n: number): number {
    if (n === 1 || n === 2 || n === 4 || n === 8) return this.int(SCALAR_BTF[`u${n * 8}`]?.c as string, n);
    return this.array(this.int('unsigned char', 1), n);
  }

  /** `struct bpf_lpm_trie_key_u8` of `size` bytes: the prefix length, then the address bytes. */
  lpmKey(size: number): number {
    if (size < 5) throw new BtfBuildError(`an LPM-trie key needs at least 5 bytes (u32 prefixlen + data), got ${size}`);
    const u32 = this.int('unsigned int', 4);
    const data = this.array(this.int('unsigned char', 1), size - 4);
    const prefixlen = this.#str('prefixlen');
    const dataName = this.#str('data');
    return this.#add([this.#str('bpf_lpm_trie_key_u8'), btfInfo(BtfKind.Struct, 2), size, prefixlen, u32, 0, dataName, data, 32]);
  }

  /** `ret (*)(params…)`: a FUNC_PROTO (0 for void returns and parameter types). */
  funcProto(returnType: number, params: readonly { name: string; type: number }[] = []): number {
    const words = [0, btfInfo(BtfKind.FuncProto, params.length), returnType];
    for (const p of params) words.push(this.#str(p.name), p.type);
    return this.#add(words);
  }

  /** A FUNC named `name` of prototype `proto`; linkage 0 static, 1 global. */
  func(name: string, proto: number, linkage: 0 | 1 = 0): number {
    return this.#add([this.#str(name), btfInfo(BtfKind.Func, linkage), proto]);
  }

  /** The type id describing `codec` (added with everything it refers to). */
  codec(codec: Codec<unknown>, path = codec.name): number {
    const known = this.#byCodec.get(codec);
    if (known !== undefined) return known;
    const id = this.#codec(codec, path);
    this.#byCodec.set(codec, id);
    return id;
  }

  #codec(c: Codec<unknown>, path: string): number {
    switch (c.kind) {
      case 'scalar': {
        const s = SCALAR_BTF[c.name];
        if (!s) throw new BtfBuildError(`${path}: no BTF for scalar ${c.name}`);
        if (s.float) return this.#float(s.c, s.size);
        const base = this.int(s.c, s.size, { signed: s.signed === true, bool: s.bool === true });
        if (s.be) return this.typedef(`__be${s.size * 8}`, this.typedef(`__u${s.size * 8}`, base));
        return base;
      }
      case 'cstring':
        return this.array(this.int('char', 1, { signed: true }), (c as CStringType).length);
      case 'array': {
        const a = c as ArrayType<unknown>;
        if (containsSpinLock(a.element))
          throw new BtfBuildError(`${path}: a bpf_spin_lock cannot be inside an array (the kernel allows one, in a struct)`);
        return this.array(this.codec(a.element, `${path}[]`), a.length);
      }
      case 'spinlock':
        return this.#spinLock();
      case 'struct':
        return this.#struct(c as StructType<unknown>, path, BtfKind.Struct);
      case 'union':
        return this.#struct(c as StructType<unknown>, path, BtfKind.Union);
      case 'enum':
        return this.#enum(c as Codec<unknown> & { values?: readonly { name: string; value: bigint }[]; signed?: boolean }, path);
      default:
        throw new BtfBuildError(`${path}: no BTF for a codec of kind ${String((c as Codec<unknown>).kind)}`);
    }
  }

  #float(name: string, size: number): number {
    const key = `float:${name}`;
    const known = this.#byName.get(key);
    if (known !== undefined) return known;
    const id = this.#add([this.#str(name), btfInfo(BtfKind.Float, 0), size]);
    this.#byName.set(key, id);
    return id;
  }

  #spinLock(): number {
    const known = this.#byName.get('struct:bpf_spin_lock');
    if (known !== undefined) return known;
    const u32 = this.int('unsigned int', 4);
    const id = this.#add([this.#str('bpf_spin_lock'), btfInfo(BtfKind.Struct, 1), 4, this.#str('val'), u32, 0]);
    this.#byName.set('struct:bpf_spin_lock', id);
    return id;
  }

  /** An enum read from BTF, back into BTF (ENUM, or ENUM64 for 8-byte enums). */
  #enum(c: Codec<unknown> & { values?: readonly { name: string; value: bigint }[]; signed?: boolean }, path: string): number {
    if (!c.values) throw new BtfBuildError(`${path}: enum ${c.name} has no list of values`);
    const name = c.name.replace(/^enum /, '').replace('(anon)', '');
    const wide = c.size === 8;
    const words = [this.#str(name), btfInfo(wide ? BtfKind.Enum64 : BtfKind.Enum, c.values.length, c.signed === true), c.size];
    for (const v of c.values) {
      const u = BigInt.asUintN(64, v.value);
      if (wide) words.push(this.#str(v.name), Number(u & 0xffff_ffffn), Number(u >> 32n));
      else words.push(this.#str(v.name), Number(u & 0xffff_ffffn));
    }
    return this.#add(words);
  }

  #struct(s: StructType<unknown>, path: string, kind: BtfKind = BtfKind.Struct): number {
    const name = s.name.replace(/^(struct|union) /, '').replace('(anon)', '');
    const locks = s.fields.filter((f) => f.type.kind === 'spinlock');
    if (locks.length > 1)
      throw new BtfBuildError(
        `${path}: struct ${name} has ${locks.length} bpf_spin_lock fields; the kernel allows one per value`,
      );
    for (const f of locks)
      if (f.offset % 4 !== 0)
        throw new BtfBuildError(`${path}.${f.name}: a bpf_spin_lock must be 4-byte aligned, it is at offset ${f.offset}`);
    // Bitfields (structs read from BTF) need kind_flag members: offset bits 0-23, width bits 24-31.
    const bitfields = s.fields.some((f) => f.type.kind === 'bitfield');
    const members = s.fields.map((f) => {
      if (f.type.kind !== 'bitfield') return [f.name, this.codec(f.type, `${path}.${f.name}`), f.offset * 8] as const;
      const b = f.type as BitfieldCodec;
      const base = this.int(b.signed ? 'long long' : 'unsigned long long', 8, { signed: b.signed });
      return [f.name, base, ((b.bits << 24) | (f.bitOffset ?? f.offset * 8)) >>> 0] as const;
    });
    const words = [this.#str(name), btfInfo(kind, members.length, bitfields), s.size];
    for (const [n, t, bits] of members) words.push(this.#str(n), t, bits);
    return this.#add(words);
  }

  /** The BTF blob: header, types, strings. */
  build(): Uint8Array {
    const typeLen = this.#types.reduce((n, t) => n + t.length, 0);
    const strLen = this.#stringBytes;
    const out = new Uint8Array(BTF_HEADER_SIZE + typeLen + strLen);
    const v = new DataView(out.buffer);
    v.setUint16(0, BTF_MAGIC, true);
    v.setUint8(2, BTF_VERSION);
    v.setUint8(3, 0);
    v.setUint32(4, BTF_HEADER_SIZE, true);
    v.setUint32(8, 0, true);
    v.setUint32(12, typeLen, true);
    v.setUint32(16, typeLen, true);
    v.setUint32(20, strLen, true);
    let off = BTF_HEADER_SIZE;
    for (const t of this.#types) {
      out.set(t, off);
      off += t.length;
    }
    for (const s of this.#strings) {
      off += Buffer.from(s).copy(out, off) + 1;
    }
    return out;
  }
}

function containsSpinLock(c: Codec<unknown>): boolean {
  if (c.kind === 'spinlock') return true;
  if (c.kind === 'array') return containsSpinLock((c as ArrayType<unknown>).element);
  if (c.kind === 'struct') return (c as StructType<unknown>).fields.some((f) => containsSpinLock(f.type));
  return false;
}
