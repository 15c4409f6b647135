/**
 * BTF types → TypeScript declarations: one codec (`defineStruct`,
 * `defineLayout`, `defineUnion`, `defineEnum`, scalar aliases) per struct,
 * union, enum and typedef reachable from the roots asked for, in dependency
 * order, each with its TypeScript type (`Infer<typeof x>`) and a doc comment
 * naming the C type and the maps and variables that use it.
 *
 * Layout decisions: a struct whose members sit where `defineStruct` would put
 * them (natural or packed alignment) is a `defineStruct`; one with bitfields,
 * anonymous members (lifted into the record, as C lets you name them), or any
 * other placement is a `defineLayout` with the offsets BTF gives. Every
 * declaration is followed by a `checkLayout` call that compares the codec with
 * BTF when the module loads.
 */
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, BtfKind } from '../btf/kinds.js';
import { cTypeName } from '../btf/c-name.js';
import type { BtfType } from '../btf/parse.js';

/** A codec expression and the alignment the codec built from it has. */
interface Ref {
  /** Source text: `'u32'`, `bpfmap.cstring(16)`, `point`. */
  expr: string;
  /** The TypeScript type of its values: `number`, `point`, `point[]`. */
  ts: string;
  size: number;
  align: number;
  /** A scalar by name (`'u32'`), usable as a field type string. */
  scalar?: boolean;
}

interface Decl {
  name: string;
  /** The type id the doc comment describes. */
  id: number;
  lines: string[];
  body: string;
}

/** Names the generated module defines itself, and words TypeScript does not allow as names. */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface ' +
    'package private protected public await as async any unknown never number string boolean bigint symbol object undefined ' +
    'type of from declare namespace module keyof infer is asserts readonly satisfies global require arguments eval ' +
    'bpfmap load Maps Variables Programs Skeleton LoadOptions InitialVariables mapTypes Symbol Uint8Array Object Array Error ' +
    'Promise Number String Boolean BigInt Record Partial Readonly NaN Infinity globalThis'
  ).split(' '),
);

const MODIFIERS = new Set([BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);
const BE: Record<string, string> = { __be16: 'be16', __be32: 'be32', __be64: 'be64' };
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `1 byte`, `4 bytes`. */
function bytes(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

/** A property key: bare when it is an identifier, else quoted. */
export function prop(name: string): string {
  return IDENT.test(name) ? name : JSON.stringify(name);
}

/** Comment-safe text (no `*\/`). */
export function safe(s: string): string {
  return s.replace(/\*\//g, '* /');
}

/** One lifted member of a record being declared. */
interface Member {
  name: string;
  /** Bit offset from the record's start. */
  bit: number;
  /** 0 unless a bitfield. */
  bits: number;
  signed: boolean;
  ref: Ref | undefined;
  optional: boolean;
  /** The C type, for the comment. */
  ctype: string;
}

/** Declares BTF types as codecs, on demand, each once. */
export class Declarer {
  readonly #types: readonly BtfType[];
  readonly #refs = new Map<number, Ref>();
  readonly #busy = new Set<number>();
  readonly #used = new Set<string>();
  readonly #names = new Map<string, string>();
  readonly #users = new Map<number, string[]>();
  readonly #decls: Decl[] = [];

  constructor(types: readonly BtfType[]) {
    this.#types = types;
    // Tags first, then typedefs, each in id order, so the same object always names alike and a
    // struct keeps its C name over a typedef's. `typedef struct foo foo;` is the struct itself.
    const tags = new Set([BtfKind.Struct, BtfKind.Union, BtfKind.Enum, BtfKind.Enum64]);
    for (const pass of [true, false])
      for (const t of types) {
        if (!t.name || (pass ? !tags.has(t.kind) : t.kind !== BtfKind.Typedef)) continue;
        if (!pass && this.#aliasOfTag(t)) continue;
        const key = `${t.kind}:${t.name}`;
        if (!this.#names.has(key)) this.#names.set(key, this.#unique(t.name, t.kind));
      }
  }

  /** True for a typedef of a struct, union or enum with the typedef's own name. */
  #aliasOfTag(t: BtfType): boolean {
    try {
      const target = this.#resolved(t.type ?? 0);
      const tag =
        target.kind === BtfKind.Struct ||
        target.kind === BtfKind.Union ||
        target.kind === BtfKind.Enum ||
        target.kind === BtfKind.Enum64;
      return tag && target.name === t.name;
    } catch {
      return false;
    }
  }

  #unique(base: string, kind?: BtfKind): string {
    let n = RESERVED.has(base) ? `${base}_` : base;
    if (this.#used.has(n) && kind !== undefined) {
      const suffix =
        kind === BtfKind.Union ? 'union' : kind === BtfKind.Typedef ? 't' : kind === BtfKind.Struct ? 'struct' : 'enum';
      n = `${base}_${suffix}`;
    }
    for (let i = 2; this.#used.has(n); i++) n = `${base}_${i}`;
    this.#used.add(n);
    return n;
  }

  /** Records that `who` (e.g. "value of map `table`") uses type `id`, for the doc comments. */
  use(id: number, who: string): void {
    let base = this.#base(id);
    const t = this.type(base);
    if (t.kind === BtfKind.Typedef && this.#resolved(base).name === t.name) base = this.#base(t.type ?? 0);
    const list = this.#users.get(base) ?? [];
    if (!list.includes(who)) list.push(who);
    this.#users.set(base, list);
  }

  /** The first id after const/volatile/… (typedefs kept: they are declared). */
  #base(id: number): number {
    let t = this.type(id);
    let guard = 0;
    while (t && MODIFIERS.has(t.kind) && guard++ < 64) {
      id = t.type ?? 0;
      t = this.type(id);
    }
    return id;
  }

  type(id: number): BtfType {
    const t = this.#types[id - 1];
    if (t === undefined) throw new TypeError(`BTF type id ${id} does not exist`);
    return t;
  }

  /** The C spelling of a type: `struct flow`, `__u32`, `char[16]`. */
  cName(id: number): string {
    return cTypeName((t) => this.type(t), id);
  }

  #resolved(id: number): BtfType {
    let t = this.type(id);
    for (let n = 0; MODIFIERS.has(t.kind) || t.kind === BtfKind.Typedef; n++) {
      if (n > 64) throw new TypeError(`${this.cName(id)}: a cycle of typedefs in the BTF`);
      t = this.type(t.type ?? 0);
    }
    return t;
  }

  /** A codec expression for `id` (scalars as `bpfmap.u32`, not `'u32'`), with its TypeScript type. */
  codec(id: number, hint: string): { expr: string; ts: string; size: number; cname: string } {
    const r = this.ref(id, hint);
    return { expr: r.scalar ? `bpfmap.${r.expr.slice(1, -1)}` : r.expr, ts: r.ts, size: r.size, cname: this.cName(id) };
  }

  /** The codec reference for type `id`, declaring it (and what it uses) first. `hint` names anonymous types. */
  ref(id: number, hint: string): Ref {
    const known = this.#refs.get(id);
    if (known) return known;
    if (this.#busy.has(id)) throw new TypeError(`${this.cName(id)} contains itself (a cycle in the BTF)`);
    this.#busy.add(id);
    try {
      const r = this.#build(id, hint);
      this.#refs.set(id, r);
      return r;
    } finally {
      this.#busy.delete(id);
    }
  }

  #build(id: number, hint: string): Ref {
    if (id === 0) throw new TypeError(`${hint}: void has no values`);
    const t = this.type(id);
    if (MODIFIERS.has(t.kind)) return this.ref(t.type ?? 0, hint);
    switch (t.kind) {
      case BtfKind.Typedef:
        return this.#typedef(id, t, hint);
      case BtfKind.Int:
        return this.#int(t);
      case BtfKind.Ptr:
        return { expr: "'u64'", ts: 'bigint', size: 8, align: 8, scalar: true };
      case BtfKind.Float:
        if (t.size === 4) return { expr: "'f32'", ts: 'number', size: 4, align: 4, scalar: true };
        if (t.size === 8) return { expr: "'f64'", ts: 'number', size: 8, align: 8, scalar: true };
        return { expr: `bpfmap.array('u8', ${t.size ?? 1})`, ts: 'number[]', size: t.size ?? 1, align: 1 };
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return this.#enum(id, t, hint);
      case BtfKind.Array: {
        const n = t.nelems ?? 0;
        if (n === 0) throw new TypeError(`${hint}: a zero-length array has no values`);
        const elem = this.#resolved(t.elemType ?? 0);
        if (
          elem.kind === BtfKind.Int &&
          elem.size === 1 &&
          (elem.name === 'char' || ((elem.intEncoding ?? 0) & BTF_INT_CHAR) !== 0)
        )
          return { expr: `bpfmap.cstring(${n})`, ts: 'string', size: n, align: 1 };
        const e = this.ref(t.elemType ?? 0, hint);
        const ts = /^[A-Za-z0-9_$.]+$/.test(e.ts) ? `${e.ts}[]` : `(${e.ts})[]`;
        return { expr: `bpfmap.array(${e.expr}, ${n})`, ts, size: e.size * n, align: e.align };
      }
      case BtfKind.Struct:
      case BtfKind.Union:
        return this.#record(id, t, hint);
      default:
        throw new TypeError(`${hint}: no codec for BTF ${BtfKind[t.kind] ?? t.kind} ${this.cName(id)}`);
    }
  }

  #int(t: BtfType): Ref {
    const size = t.size ?? 0;
    const enc = t.intEncoding ?? 0;
    if (enc & BTF_INT_BOOL && size === 1) return { expr: "'bool'", ts: 'boolean', size: 1, align: 1, scalar: true };
    if (size === 1 || size === 2 || size === 4 || size === 8) {
      const s = `${enc & BTF_INT_SIGNED ? 'i' : 'u'}${size * 8}`;
      return { expr: `'${s}'`, ts: size === 8 ? 'bigint' : 'number', size, align: size, scalar: true };
    }
    return { expr: `bpfmap.array('u8', ${size})`, ts: 'number[]', size, align: 1 };
  }

  /** Every declaration made, in dependency order, with its doc comment. */
  render(): string {
    return this.#decls.map((d) => this.#doc(d.id, d.lines) + d.body).join('\n');
  }

  #doc(id: number, lines: string[]): string {
    const users = this.#users.get(id) ?? [];
    const all = [...lines];
    if (users.length) all.push(`Used by ${users.join(', ')}.`);
    return `/**\n${all.map((l) => ` * ${safe(l)}`).join('\n')}\n */\n`;
  }

  #typedef(id: number, t: BtfType, hint: string): Ref {
    const be = BE[t.name];
    if (be)
      return {
        expr: `'${be}'`,
        ts: be === 'be64' ? 'bigint' : 'number',
        size: Number(be.slice(2)) / 8,
        align: Number(be.slice(2)) / 8,
        scalar: true,
      };
    const target = this.#resolved(id);
    // `typedef struct foo foo;`: the struct's declaration already has the name.
    if (
      (target.kind === BtfKind.Struct ||
        target.kind === BtfKind.Union ||
        target.kind === BtfKind.Enum ||
        target.kind === BtfKind.Enum64) &&
      target.name === t.name
    )
      return this.ref(t.type ?? 0, hint);
    const inner = this.ref(t.type ?? 0, t.name || hint);
    const name = this.#names.get(`${BtfKind.Typedef}:${t.name}`) ?? this.#unique(t.name || `${hint}_t`);
    const expr = inner.scalar ? `bpfmap.${inner.expr.slice(1, -1)}` : inner.expr;
    this.#decls.push({
      name,
      id,
      lines: [`C \`typedef ${this.cName(t.type ?? 0)} ${t.name}\` (${bytes(inner.size)}).`],
      body: `export const ${name} = ${expr};\n` + `/** Values of C \`${safe(t.name)}\`. */\nexport type ${name} = ${inner.ts};\n`,
    });
    return { expr: name, ts: name, size: inner.size, align: inner.align };
  }

  #enum(id: number, t: BtfType, hint: string): Ref {
    const size = t.size ?? 4;
    const name = t.name ? (this.#names.get(`${t.kind}:${t.name}`) ?? this.#unique(t.name)) : this.#unique(`${hint}_enum`);
    const wide = size === 8;
    const values = (t.values ?? []).filter((v, i, all) => all.findIndex((w) => w.name === v.name) === i);
    const vals = values.map((v) => `    ${prop(v.name)}: ${wide ? `${v.value}n` : `${v.value}`},`).join('\n');
    const opts = `{ size: ${size}${t.signed ? ', signed: true' : ''} }`;
    const lines = [
      `C \`${this.cName(id)}\` (${bytes(size)}${t.signed ? ', signed' : ''}). Values are enumerator names, or numbers where none matches.`,
    ];
    if (wide && t.kind === BtfKind.Enum)
      lines.push(
        'BTF stored this 64-bit enum as 32-bit values (clang before 15 does): enumerators beyond 32 bits read as numbers.',
      );
    const cast = values.length === 0 ? (wide ? ' as Record<string, bigint>' : ' as Record<string, number>') : '';
    this.#decls.push({
      name,
      id,
      lines,
      body:
        `export const ${name} = bpfmap.defineEnum(\n  '${t.name || name}',\n  {\n${vals}\n  }${cast},\n  ${opts},\n);\n` +
        `bpfmap.checkLayout(${name}, ${size});\n` +
        `/** Values of C \`${safe(this.cName(id))}\`. */\nexport type ${name} = bpfmap.Infer<typeof ${name}>;\n`,
    });
    return { expr: name, ts: name, size, align: size };
  }

  /** Members of `t` with anonymous members lifted; bit offsets from the outer record. */
  #flatten(t: BtfType, baseBit: number, optional: boolean, recName: string, out: Member[], depth: number): void {
    if (depth > 64) throw new TypeError(`${recName}: anonymous members nest more than 64 deep`);
    const inUnion = t.kind === BtfKind.Union;
    for (const m of t.members ?? []) {
      const bit = baseBit + m.bitOffset;
      const opt = optional || inUnion;
      if (m.name === '') {
        const inner = this.#resolved(m.type);
        if (inner.kind === BtfKind.Struct || inner.kind === BtfKind.Union)
          this.#flatten(inner, bit, opt, recName, out, depth + 1);
        continue; // unnamed padding bitfields hold nothing
      }
      const mt = this.#resolved(m.type);
      const isInt = mt.kind === BtfKind.Int;
      const isEnum = mt.kind === BtfKind.Enum || mt.kind === BtfKind.Enum64;
      const intBits = isInt ? (mt.intBits ?? 0) : 0;
      const intOff = isInt ? (mt.intOffset ?? 0) : 0;
      const bits = m.bitSize || (isInt && intBits < (mt.size ?? 0) * 8 ? intBits : 0);
      if (bits > 0 || intOff > 0 || bit % 8 !== 0) {
        if (!isInt && !isEnum) throw new TypeError(`${recName}.${m.name}: a bitfield of ${this.cName(m.type)} is not supported`);
        const signed = isInt ? ((mt.intEncoding ?? 0) & BTF_INT_SIGNED) !== 0 : mt.signed === true;
        out.push({
          name: m.name,
          bit: bit + intOff,
          bits: bits || (mt.size ?? 0) * 8,
          signed,
          ref: undefined,
          optional: opt,
          ctype: `${this.cName(m.type)} : ${bits}`,
        });
        continue;
      }
      // Flexible array members (`char data[]`) have no bytes of their own.
      const arr = this.#resolved(m.type);
      if (arr.kind === BtfKind.Array && (arr.nelems ?? 0) === 0) continue;
      const ref = this.ref(m.type, `${recName}_${m.name}`);
      out.push({ name: m.name, bit, bits: 0, signed: false, ref, optional: opt, ctype: this.cName(m.type) });
    }
  }

  #record(id: number, t: BtfType, hint: string): Ref {
    const isUnion = t.kind === BtfKind.Union;
    const size = t.size ?? 0;
    const name = t.name ? (this.#names.get(`${t.kind}:${t.name}`) ?? this.#unique(t.name)) : this.#unique(hint);
    const cname = this.cName(id);
    if (t.name === 'bpf_spin_lock' && size === 4) return { expr: 'bpfmap.bpfSpinLock', ts: 'never', size: 4, align: 4 };
    const members: Member[] = [];
    this.#flatten(t, 0, false, name, members, 0);
    if (members.length === 0) throw new TypeError(`${cname} has no members that hold values`);
    const direct = (t.members ?? []).every((m) => m.name !== '');
    const plain = members.every((m) => m.bits === 0 && m.ref && !m.optional) && direct;
    // The alignment C gives the record: its widest member, unless BTF shows it packed.
    const unitAlign = (m: Member) =>
      m.ref ? m.ref.align : Math.min(8, 2 ** Math.ceil(Math.log2(Math.max(1, (m.bits + (m.bit % 8) + 7) >> 3))));
    let align = Math.max(1, ...members.map(unitAlign));
    const fits = members.every((m) => m.bits > 0 || (m.bit / 8) % (m.ref?.align ?? 1) === 0) && size % align === 0;
    if (!fits) align = 1;
    const lines = [`C \`${cname}\` (${bytes(size)})${t.name ? '' : `, declared inline (named here ${name})`}.`];
    let text: string;
    const fieldLine = (m: Member, body: string) => `  ${prop(m.name)}: ${body}, // ${safe(m.ctype)}\n`;
    if (!isUnion && plain && this.#natural(members, size, false)) {
      text = `export const ${name} = bpfmap.defineStruct('${t.name || name}', {\n${members.map((m) => fieldLine(m, (m.ref as Ref).expr)).join('')}});\n`;
      align = Math.max(1, ...members.map((m) => (m.ref as Ref).align));
    } else if (!isUnion && plain && this.#natural(members, size, true)) {
      text = `export const ${name} = bpfmap.defineStruct(\n  '${t.name || name}',\n  {\n${members.map((m) => `  ${fieldLine(m, (m.ref as Ref).expr)}`).join('')}  },\n  { packed: true },\n);\n`;
      align = 1;
    } else if (isUnion && direct && members.every((m) => m.bits === 0 && m.ref && m.bit === 0)) {
      text = `export const ${name} = bpfmap.defineUnion(\n  '${t.name || name}',\n  {\n${members.map((m) => `  ${fieldLine(m, (m.ref as Ref).expr)}`).join('')}  },\n  { size: ${size}, align: ${align} },\n);\n`;
    } else {
      const body = members
        .map((m) => {
          const opt = m.optional ? ', optional: true' : '';
          if (m.ref) return `  ${fieldLine(m, `{ offset: ${m.bit / 8}, type: ${m.ref.expr}${opt} }`)}`;
          return `  ${fieldLine(m, `{ bit: ${m.bit}, bits: ${m.bits}${m.signed ? ', signed: true' : ''}${m.bits > 32 ? ', wide: true' : ''}${opt} }`)}`;
        })
        .join('');
      text = `export const ${name} = bpfmap.defineLayout(\n  '${t.name || name}',\n  { size: ${size}, align: ${align} },\n  {\n${body}  },\n);\n`;
      if (members.some((m) => m.bits > 0)) lines.push('Bitfields are numbers (bigint beyond 32 bits).');
      if (!direct) lines.push('Members of anonymous structs and unions are fields of this record, as C names them.');
      if (members.some((m) => m.optional))
        lines.push('Union members are optional: each reads the same bytes; give one (or several that agree) to write.');
    }
    if (isUnion && !lines.some((l) => l.startsWith('Union')))
      lines.push('Each member reads the same bytes; give one (or several that agree) to write.');
    const offsets = members.filter((m) => m.bits === 0).map((m) => `${prop(m.name)}: ${m.bit / 8}`);
    const check = `bpfmap.checkLayout(${name}, ${size}${offsets.length ? `, { ${offsets.join(', ')} }` : ''});\n`;
    this.#decls.push({
      name,
      id,
      lines,
      body: `${text}${check}/** Records of C \`${safe(cname)}\`. */\nexport type ${name} = bpfmap.Infer<typeof ${name}>;\n`,
    });
    return { expr: name, ts: name, size, align };
  }

  /** True when `defineStruct` (natural or packed alignment) puts every member where BTF does and has BTF's size. */
  #natural(members: readonly Member[], size: number, packed: boolean): boolean {
    let off = 0;
    let align = 1;
    for (const m of members) {
      const r = m.ref as Ref;
      const a = packed ? 1 : r.align;
      off = Math.ceil(off / a) * a;
      if (off * 8 !== m.bit) return false;
      off += r.size;
      align = Math.max(align, a);
    }
    return Math.ceil(off / align) * align === size;
  }
}
