/**
 * CO-RE access specs and type matching: an access string (`0:1:2`) walked through the object's
 * own BTF, the same access looked up by name in a candidate kernel type, and the compatibility
 * rules that decide whether a kernel type can stand for a local one. The rules are those of the
 * kernel's CO-RE documentation (Documentation/bpf/libbpf/libbpf_naming_convention.rst, btf.rst) and
 * libbpf's relocation engine, written here from their description.
 */
import { CoreReloKind } from '../ext.js';
import { BTF_INT_SIGNED, BtfKind } from '../kinds.js';
import type { BtfType } from '../parse.js';
import { essentialName } from '../target.js';

/** Types by id: a parsed object's `.BTF`, or a kernel BTF's full id space (module ids after vmlinux's). */
export interface Types {
  /** The type with id `id` (1-based), or `undefined` past the end. */
  type(id: number): BtfType | undefined;
}

/** A failure to relocate that no poisoning can cover: the load must fail. */
export class SpecError extends Error {}

/** How deep an access may go (libbpf's limit, so objects that load with libbpf load here). */
export const MAX_SPEC_LEN = 64;
/** How far typedef/modifier chains and recursive comparisons may go before a cycle is assumed. */
const MAX_CHAIN = 64;
const MAX_DEPTH = 32;
/** Members visited while searching one field by name through anonymous members (a hostile BTF's budget). */
const MAX_MEMBER_STEPS = 1_000_000;

const MODIFIERS = new Set([BtfKind.Typedef, BtfKind.Volatile, BtfKind.Const, BtfKind.Restrict, BtfKind.TypeTag]);

/** One meaningful step of an access: a named member of a composite, or an array index (`name` undefined). */
export interface Accessor {
  /** The composite holding the member, or the array's element type (modifiers skipped). */
  typeId: number;
  idx: number;
  name?: string;
}

/** An access resolved in one BTF: its steps, the raw indexes, and where it lands in bits. */
export interface Spec {
  types: Types;
  rootId: number;
  kind: CoreReloKind;
  /** The named steps and array indexes (anonymous members left out). */
  acc: Accessor[];
  /** Every index of the access, including anonymous members. */
  raw: number[];
  bitOffset: number;
}

/** Type id 0: void, a type of kind UNKNOWN as the matching rules see it. */
const VOID: BtfType = { id: 0, kind: BtfKind.Unknown, name: '' };

/** The type with id `id` (`VOID` for 0), or `undefined` for an id past the end. */
export function typeAt(types: Types, id: number): BtfType | undefined {
  return id === 0 ? VOID : types.type(id);
}

/** The type behind typedefs and modifiers (`VOID` for void); `undefined` for a dangling id or a cycle. */
export function skipMods(types: Types, id: number): { id: number; t: BtfType } | undefined {
  for (let i = 0; i < MAX_CHAIN; i++) {
    const t = typeAt(types, id);
    if (!t) return undefined;
    if (!MODIFIERS.has(t.kind)) return { id, t };
    id = t.type ?? 0;
  }
  return undefined;
}

/** Size in bytes of a type, as C's sizeof: arrays multiply, typedefs/modifiers look through; `undefined` when it has none. */
export function resolveSize(types: Types, id: number): number | undefined {
  let mult = 1;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const t = typeAt(types, id);
    if (!t) return undefined;
    switch (t.kind) {
      case BtfKind.Int:
      case BtfKind.Enum:
      case BtfKind.Enum64:
      case BtfKind.Struct:
      case BtfKind.Union:
      case BtfKind.Float:
      case BtfKind.Datasec: {
        const n = mult * (t.size ?? 0);
        return n > 0xffffffff ? undefined : n;
      }
      case BtfKind.Ptr:
        return mult * 8; // BPF objects and the 64-bit kernels CO-RE targets have 8-byte pointers
      case BtfKind.Array:
        mult *= t.nelems ?? 0;
        if (mult > 0xffffffff) return undefined;
        id = t.elemType ?? 0;
        break;
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.TypeTag:
      case BtfKind.Var:
        id = t.type ?? 0;
        break;
      default:
        return undefined;
    }
  }
  return undefined;
}

const isComposite = (t: BtfType) => t.kind === BtfKind.Struct || t.kind === BtfKind.Union;
const isAnyEnum = (t: BtfType) => t.kind === BtfKind.Enum || t.kind === BtfKind.Enum64;

/** Kinds CO-RE treats as the same: equal kinds, or enum with enum64. */
export function kindsCompatible(a: BtfType, b: BtfType): boolean {
  return a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));
}

export function isFieldKind(kind: CoreReloKind): boolean {
  return kind <= CoreReloKind.FieldRshiftU64;
}

export function isTypeKind(kind: CoreReloKind): boolean {
  return (kind >= CoreReloKind.TypeIdLocal && kind <= CoreReloKind.TypeSize) || kind === CoreReloKind.TypeMatches;
}

export function isEnumvalKind(kind: CoreReloKind): boolean {
  return kind === CoreReloKind.EnumvalExists || kind === CoreReloKind.EnumvalValue;
}

/** A flexible array: size 0, the last member of the struct holding it. */
function isFlexArray(types: Types, prev: Accessor | undefined, arr: BtfType): boolean {
  if (!prev || prev.name === undefined || (arr.nelems ?? 0) > 0) return false;
  const holder = typeAt(types, prev.typeId);
  return holder?.members !== undefined && prev.idx === holder.members.length - 1;
}

/** Parses an access string into indexes. */
function parseAccess(s: string): number[] {
  if (!/^\d+(:\d+)*$/.test(s)) throw new SpecError(`access string ${JSON.stringify(s)} is not indexes separated by ':'`);
  const raw = s.split(':').map(Number);
  if (raw.length > MAX_SPEC_LEN) throw new SpecError(`access string has ${raw.length} steps (at most ${MAX_SPEC_LEN})`);
  if (raw.some((n) => n > 0x7fffffff)) throw new SpecError(`access string ${JSON.stringify(s)} has an index out of range`);
  return raw;
}

/** Walks `access` from local type `rootId`: the local spec, or a `SpecError` saying where it stops making sense. */
export function parseSpec(types: Types, rootId: number, access: string, kind: CoreReloKind): Spec {
  const spec: Spec = { types, rootId, kind, acc: [], raw: [], bitOffset: 0 };
  if (isTypeKind(kind)) {
    if (access !== '0') throw new SpecError(`a type relocation's access string must be "0", not ${JSON.stringify(access)}`);
    return spec;
  }
  spec.raw = parseAccess(access);
  const root = skipMods(types, rootId);
  if (!root) throw new SpecError(`local type ${rootId} does not exist or is void`);
  const first = spec.raw[0] as number;
  spec.acc.push({ typeId: root.id, idx: first });
  if (isEnumvalKind(kind)) {
    const values = root.t.values;
    if (!values || spec.raw.length > 1 || first >= values.length)
      throw new SpecError(
        `enumerator ${access} does not exist in local type ${rootId} (${values ? `${values.length} enumerators` : 'not an enum'})`,
      );
    (spec.acc[0] as Accessor).name = (values[first] as { name: string }).name;
    return spec;
  }
  if (!isFieldKind(kind)) throw new SpecError(`unknown relocation kind ${kind}`);
  const rootSize = resolveSize(types, root.id);
  if (rootSize === undefined) throw new SpecError(`local type ${rootId} has no size`);
  spec.bitOffset = first * rootSize * 8;
  let id = root.id;
  for (let i = 1; i < spec.raw.length; i++) {
    const cur = skipMods(types, id);
    if (!cur) throw new SpecError(`step ${i} of the access reaches a void or dangling type`);
    const idx = spec.raw[i] as number;
    if (cur.t.members) {
      const m = cur.t.members[idx];
      if (!m) throw new SpecError(`step ${i}: ${typeLabel(cur.t)} has no member #${idx}`);
      spec.bitOffset += m.bitOffset;
      if (m.name !== '') spec.acc.push({ typeId: cur.id, idx, name: m.name });
      id = m.type;
    } else if (cur.t.kind === BtfKind.Array) {
      const elem = skipMods(types, cur.t.elemType ?? 0);
      if (!elem) throw new SpecError(`step ${i}: array of void or a dangling type`);
      if (!isFlexArray(types, spec.acc[spec.acc.length - 1], cur.t) && idx >= (cur.t.nelems ?? 0))
        throw new SpecError(`step ${i}: index ${idx} is past the array's ${cur.t.nelems} elements`);
      spec.acc.push({ typeId: elem.id, idx });
      const sz = resolveSize(types, elem.id);
      if (sz === undefined) throw new SpecError(`step ${i}: array elements have no size`);
      spec.bitOffset += idx * sz * 8;
      id = elem.id;
    } else {
      throw new SpecError(`step ${i}: ${typeLabel(cur.t)} has neither members nor elements`);
    }
  }
  return spec;
}

/** `struct foo`, `union (anon)`, `int`: a type for messages. */
export function typeLabel(t: BtfType | undefined): string {
  if (!t) return 'void';
  const name = t.name || '(anon)';
  switch (t.kind) {
    case BtfKind.Struct:
      return `struct ${name}`;
    case BtfKind.Union:
      return `union ${name}`;
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return `enum ${name}`;
    case BtfKind.Fwd:
      return `${t.fwdUnion ? 'union' : 'struct'} ${name} (forward)`;
    default:
      return t.name || BtfKind[t.kind]?.toLowerCase() || `kind ${t.kind}`;
  }
}

/** The C-like path of a spec: `struct task_struct.pid`, `struct s[2].a.b[3]`, `enum e::X`, `struct foo`. */
export function specPath(spec: Spec): string {
  const root = typeAt(spec.types, spec.rootId);
  let s = typeLabel(root);
  if (isEnumvalKind(spec.kind)) return `${s}::${spec.acc[0]?.name ?? '?'}`;
  spec.acc.forEach((a, i) => {
    if (a.name !== undefined) s += `.${a.name}`;
    else if (i > 0 || a.idx > 0) s += `[${a.idx}]`;
  });
  return s;
}

const sameEssential = (a: string, b: string) => essentialName(a) === essentialName(b);

/** Whether a local and a target field type can stand for each other (field relocations). */
function fieldsCompatible(local: Types, localId: number, targ: Types, targId: number): boolean {
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipMods(local, localId);
    const t = skipMods(targ, targId);
    if (!l || !t) throw new SpecError('a field type is void, dangling or a modifier cycle');
    if (isComposite(l.t) && isComposite(t.t)) return true;
    if (!kindsCompatible(l.t, t.t)) return false;
    switch (l.t.kind) {
      case BtfKind.Ptr:
      case BtfKind.Float:
        return true;
      case BtfKind.Fwd:
      case BtfKind.Enum:
      case BtfKind.Enum64: {
        const ln = essentialName(l.t.name);
        const tn = essentialName(t.t.name);
        return ln === '' || tn === '' || ln === tn;
      }
      case BtfKind.Int:
        return (l.t.intOffset ?? 0) === 0 && (t.t.intOffset ?? 0) === 0;
      case BtfKind.Array:
        localId = l.t.elemType ?? 0;
        targId = t.t.elemType ?? 0;
        break;
      default:
        return false;
    }
  }
  throw new SpecError('field types nest too deep to compare');
}

/**
 * Whether a target type is compatible with a local one for TYPE_EXISTS/TYPE_SIZE/TYPE_ID_TARGET
 * (names were matched at the root; below it only shapes count).
 */
export function typesCompatible(local: Types, localId: number, targ: Types, targId: number, level = MAX_DEPTH): boolean {
  const l0 = typeAt(local, localId);
  const t0 = typeAt(targ, targId);
  if (l0 && t0 && !kindsCompatible(l0, t0)) return false;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipMods(local, localId);
    const t = skipMods(targ, targId);
    if (!l || !t) throw new SpecError('a type is dangling or a modifier cycle');
    if (!kindsCompatible(l.t, t.t)) return false;
    switch (l.t.kind) {
      case BtfKind.Unknown:
      case BtfKind.Struct:
      case BtfKind.Union:
      case BtfKind.Enum:
      case BtfKind.Enum64:
      case BtfKind.Fwd:
        return true;
      case BtfKind.Int:
        return (l.t.intOffset ?? 0) === 0 && (t.t.intOffset ?? 0) === 0;
      case BtfKind.Ptr:
        localId = l.t.type ?? 0;
        targId = t.t.type ?? 0;
        break;
      case BtfKind.Array:
        localId = l.t.elemType ?? 0;
        targId = t.t.elemType ?? 0;
        break;
      case BtfKind.FuncProto: {
        const lp = l.t.params ?? [];
        const tp = t.t.params ?? [];
        if (lp.length !== tp.length) return false;
        for (let i = 0; i < lp.length; i++) {
          if (level <= 0) throw new SpecError('function prototypes nest too deep to compare');
          const la = skipMods(local, (lp[i] as { type: number }).type)?.id ?? 0;
          const ta = skipMods(targ, (tp[i] as { type: number }).type)?.id ?? 0;
          if (!typesCompatible(local, la, targ, ta, level - 1)) return false;
        }
        localId = skipMods(local, l.t.type ?? 0)?.id ?? 0;
        targId = skipMods(targ, t.t.type ?? 0)?.id ?? 0;
        break;
      }
      default:
        return false;
    }
  }
  throw new SpecError('types nest too deep to compare');
}

/** CO-RE's name rule for TYPE_MATCHES: an anonymous target matches only an anonymous local; else essential names equal. */
function namesMatch(local: string, targ: string): boolean {
  if (targ === '') return local === '';
  return sameEssential(local, targ);
}

const fwdIsUnion = (t: BtfType) => t.kind === BtfKind.Fwd && t.fwdUnion === true;

/** Whether a target type matches a local one member by member (`bpf_core_type_matches`). */
export function typesMatch(
  local: Types,
  localId: number,
  targ: Types,
  targId: number,
  behindPtr = false,
  level = MAX_DEPTH,
): boolean {
  if (level <= 0) throw new SpecError('types nest too deep to match');
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const l = skipMods(local, localId);
    const t = skipMods(targ, targId);
    if (!l || !t) throw new SpecError('a type is dangling or a modifier cycle');
    if (!namesMatch(l.t.name, t.t.name)) return false;
    switch (l.t.kind) {
      case BtfKind.Unknown:
        return t.t.kind === BtfKind.Unknown;
      case BtfKind.Fwd:
        if (behindPtr && t.t.kind !== BtfKind.Fwd)
          return (t.t.kind === BtfKind.Struct && !fwdIsUnion(l.t)) || (t.t.kind === BtfKind.Union && fwdIsUnion(l.t));
        return t.t.kind === BtfKind.Fwd && fwdIsUnion(l.t) === fwdIsUnion(t.t);
      case BtfKind.Enum:
      case BtfKind.Enum64:
        return isAnyEnum(t.t) && enumsMatch(l.t, t.t);
      case BtfKind.Struct:
      case BtfKind.Union:
        if (behindPtr) {
          if (l.t.kind === t.t.kind) return true;
          return t.t.kind === BtfKind.Fwd && (l.t.kind === BtfKind.Union) === fwdIsUnion(t.t);
        }
        return l.t.kind === t.t.kind && compositesMatch(local, l.t, targ, t.t, behindPtr, level);
      case BtfKind.Int:
        return (
          t.t.kind === BtfKind.Int &&
          l.t.size === t.t.size &&
          ((l.t.intEncoding ?? 0) & BTF_INT_SIGNED) === ((t.t.intEncoding ?? 0) & BTF_INT_SIGNED)
        );
      case BtfKind.Ptr:
        if (t.t.kind !== BtfKind.Ptr) return false;
        behindPtr = true;
        localId = l.t.type ?? 0;
        targId = t.t.type ?? 0;
        break;
      case BtfKind.Array:
        if (t.t.kind !== BtfKind.Array || l.t.nelems !== t.t.nelems) return false;
        localId = l.t.elemType ?? 0;
        targId = t.t.elemType ?? 0;
        break;
      case BtfKind.FuncProto: {
        if (t.t.kind !== BtfKind.FuncProto) return false;
        const lp = l.t.params ?? [];
        const tp = t.t.params ?? [];
        if (lp.length !== tp.length) return false;
        for (let i = 0; i < lp.length; i++) {
          if (!typesMatch(local, (lp[i] as { type: number }).type, targ, (tp[i] as { type: number }).type, behindPtr, level - 1))
            return false;
        }
        localId = l.t.type ?? 0;
        targId = t.t.type ?? 0;
        break;
      }
      default:
        return false;
    }
  }
  throw new SpecError('types nest too deep to match');
}

function enumsMatch(l: BtfType, t: BtfType): boolean {
  if (l.size !== t.size) return false;
  const lv = l.values ?? [];
  const tv = t.values ?? [];
  if (lv.length > tv.length) return false;
  return lv.every((a) => tv.some((b) => namesMatch(a.name, b.name)));
}

function compositesMatch(local: Types, l: BtfType, targ: Types, t: BtfType, behindPtr: boolean, level: number): boolean {
  const lm = l.members ?? [];
  const tm = t.members ?? [];
  if (lm.length > tm.length) return false;
  for (const a of lm) {
    let matched = false;
    for (const b of tm) {
      if (!namesMatch(a.name, b.name)) continue;
      if (typesMatch(local, a.type, targ, b.type, behindPtr, level - 1)) {
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

/**
 * Looks for the member `localAcc` names in target composite `targId`, descending into anonymous
 * members; on success pushes the target accessor onto `spec` and returns the member's type id.
 * `false`: no compatible member of that name.
 */
function matchMember(
  local: Types,
  localAcc: Accessor,
  targ: Types,
  targId: number,
  spec: Spec,
  budget: { steps: number },
): number | false {
  const cur = skipMods(targ, targId);
  if (!cur) throw new SpecError('a target member type is void, dangling or a modifier cycle');
  if (!cur.t.members) return false;
  const localType = typeAt(local, localAcc.typeId) as BtfType;
  const localMember = (localType.members ?? [])[localAcc.idx];
  if (!localMember) throw new SpecError('local accessor names no member');
  const members = cur.t.members;
  for (let i = 0; i < members.length; i++) {
    if (--budget.steps < 0)
      throw new SpecError('searching the target type for a member took too long (a cyclic or hostile BTF?)');
    if (spec.raw.length >= MAX_SPEC_LEN) throw new SpecError(`target access nests deeper than ${MAX_SPEC_LEN} steps`);
    const m = members[i] as (typeof members)[number];
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      const found = matchMember(local, localAcc, targ, m.type, spec, budget);
      if (found !== false) return found;
    } else if (m.name === localMember.name) {
      spec.acc.push({ typeId: cur.id, idx: i, name: m.name });
      if (fieldsCompatible(local, localMember.type, targ, m.type)) return m.type;
      spec.acc.pop();
      return false;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return false;
}

/** Matches the local spec against candidate `targId` of `targ`: the target spec, or `undefined` when it does not fit. */
export function matchSpec(localSpec: Spec, targ: Types, targId: number): Spec | undefined {
  const spec: Spec = { types: targ, rootId: targId, kind: localSpec.kind, acc: [], raw: [], bitOffset: 0 };
  const local = localSpec.types;
  if (isTypeKind(localSpec.kind)) {
    const ok =
      localSpec.kind === CoreReloKind.TypeMatches
        ? typesMatch(local, localSpec.rootId, targ, targId)
        : typesCompatible(local, localSpec.rootId, targ, targId);
    return ok ? spec : undefined;
  }
  const first = localSpec.acc[0] as Accessor;
  if (isEnumvalKind(localSpec.kind)) {
    const t = skipMods(targ, targId);
    if (!t || !isAnyEnum(t.t)) return undefined;
    const want = essentialName(first.name ?? '');
    const idx = (t.t.values ?? []).findIndex((v) => essentialName(v.name) === want);
    if (idx < 0) return undefined;
    spec.acc.push({ typeId: t.id, idx, name: ((t.t.values ?? [])[idx] as { name: string }).name });
    spec.raw.push(idx);
    return spec;
  }
  const budget = { steps: MAX_MEMBER_STEPS };
  let id = targId;
  for (let i = 0; i < localSpec.acc.length; i++) {
    const la = localSpec.acc[i] as Accessor;
    const cur = skipMods(targ, id);
    if (!cur) throw new SpecError('a target type is void, dangling or a modifier cycle');
    id = cur.id;
    if (la.name !== undefined) {
      const next = matchMember(local, la, targ, id, spec, budget);
      if (next === false) return undefined;
      id = next;
      continue;
    }
    if (i > 0) {
      if (cur.t.kind !== BtfKind.Array) return undefined;
      if (!isFlexArray(targ, spec.acc[spec.acc.length - 1], cur.t) && la.idx >= (cur.t.nelems ?? 0)) return undefined;
      const elem = skipMods(targ, cur.t.elemType ?? 0);
      if (!elem) throw new SpecError('a target array has void or dangling elements');
      id = elem.id;
    }
    if (spec.raw.length >= MAX_SPEC_LEN) throw new SpecError(`target access nests deeper than ${MAX_SPEC_LEN} steps`);
    spec.acc.push({ typeId: id, idx: la.idx });
    spec.raw.push(la.idx);
    const sz = resolveSize(targ, id);
    if (sz === undefined) throw new SpecError(`target type ${id} has no size`);
    spec.bitOffset += la.idx * sz * 8;
  }
  return spec;
}
