/**
 * CO-RE ("compile once, run everywhere"): the relocations clang records in `.BTF.ext` for
 * `BPF_CORE_READ`, `bpf_core_field_exists`, `bpf_core_type_exists`, `bpf_core_enum_value`… are
 * resolved against the kernel's BTF and patched into the instructions, so one object reads the
 * right offsets on every kernel. Resolution follows the kernel's CO-RE rules (the same as libbpf):
 * candidates are kernel types whose name matches ignoring a `___flavor` suffix and whose kind is
 * compatible; each candidate's fields are looked up by name; all matching candidates must agree.
 * What cannot be resolved either poisons the instruction (so code that `bpf_core_field_exists`
 * guards still loads, and the verifier refuses only when that instruction is reachable) or, where
 * a value cannot be trusted, throws `CoreRelocationError`.
 */
import { type CoreRelo, CoreReloKind, coreReloKindName } from './ext.js';
import { BTF_INT_SIGNED, BtfKind } from './kinds.js';
import { BtfParseError, type BtfType } from './parse.js';
import {
  type Spec,
  SpecError,
  type Types,
  isEnumvalKind,
  isFieldKind,
  isTypeKind,
  kindsCompatible,
  matchSpec,
  parseSpec,
  resolveSize,
  skipMods,
  specPath,
  typeAt,
  typeLabel,
} from './core/spec.js';
import { type KernelBtfType, type TargetBtf, essentialName } from './target.js';

/** What one relocation did. */
export interface CoreResult {
  /** Byte offset of the instruction within its ELF section. */
  insnOff: number;
  kind: CoreReloKind;
  accessString: string;
  /** The local access as C would spell it: `struct task_struct.pid`, `enum e::X`, `struct foo`. */
  typePath: string;
  /**
   * True when no kernel type fits and the instruction was replaced by a call to an invalid helper
   * (`call 0xbad2310`), as libbpf does: the verifier refuses the program only if it is reachable.
   */
  poisoned: boolean;
  /** The value the compiler wrote, from the object's own BTF. */
  localValue: bigint;
  /** The value patched in (0 for a failed existence check). */
  targetValue: bigint;
  /** The kernel type that matched (`undefined` when none did, and for TYPE_ID_LOCAL). */
  target?: { btf: string; id: number; typePath: string };
}

/** A CO-RE relocation that cannot be applied; the object loader names the program around it. */
export class CoreRelocationError extends Error {
  /** The ELF section of the instruction. */
  readonly section: string;
  /** Byte offset of the instruction within that section. */
  readonly insnOff: number;
  readonly kind: CoreReloKind;
  readonly accessString: string;
  /** The local access (`struct task_struct.pid`), or the root type and access string when it does not parse. */
  readonly typePath: string;

  constructor(
    where: { section: string; insnOff: number; kind: CoreReloKind; accessString: string; typePath: string },
    reason: string,
  ) {
    super(
      `CO-RE relocation ${coreReloKindName(where.kind)} of ${where.typePath} (access ${JSON.stringify(where.accessString)}) ` +
        `at ${where.section}+${where.insnOff} (instruction ${Math.floor(where.insnOff / 8)}): ${reason}`,
    );
    this.name = 'CoreRelocationError';
    this.section = where.section;
    this.insnOff = where.insnOff;
    this.kind = where.kind;
    this.accessString = where.accessString;
    this.typePath = where.typePath;
  }
}

/** The invalid helper id a poisoned instruction calls: `0xbad2310`, "bad relo", as libbpf writes it. */
export const POISON_HELPER = 0xbad2310;

const SIZE_BYTES: Record<number, number> = { 24: 8, 0: 4, 8: 2, 16: 1 };
const BYTES_SIZE: Record<number, number> = { 8: 0x18, 4: 0x00, 2: 0x08, 1: 0x10 };
const LD_IMM64 = 0x18;
const U64 = (x: bigint) => BigInt.asUintN(64, x);

/** One side's computed value: what the relocation evaluates to in that BTF. */
interface Calc {
  val: bigint;
  /** Memory access size a load/store of the field uses (0 when not a plain field). */
  size: number;
  typeId: number;
  validate: boolean;
}

/** The decision for one relocation: local and target values and how to patch. */
interface Res {
  orig: bigint;
  next: bigint;
  poison: boolean;
  validate: boolean;
  failMemsz: boolean;
  origSize: number;
  newSize: number;
}

/** Innermost element size of a (possibly multi-dimensional) array type, or the type's own size. */
function elementSize(types: Types, id: number): number {
  let cur = skipMods(types, id);
  for (let i = 0; cur && cur.t.kind === BtfKind.Array && i < 64; i++) cur = skipMods(types, cur.t.elemType ?? 0);
  const sz = cur ? resolveSize(types, cur.id) : undefined;
  if (sz === undefined) throw new SpecError('the field has no size');
  return sz;
}

/** A field relocation's value in one spec; `undefined` means "poison" (no target). */
function calcField(kind: CoreReloKind, spec: Spec | undefined): Calc | undefined {
  if (kind === CoreReloKind.FieldExists) return { val: spec ? 1n : 0n, size: 0, typeId: 0, validate: true };
  if (!spec) return undefined;
  const types = spec.types;
  const acc = spec.acc[spec.acc.length - 1];
  if (!acc) throw new SpecError('empty access');
  if (acc.name === undefined) {
    // The access ends in an array element (or the root itself).
    if (kind === CoreReloKind.FieldByteOffset)
      return {
        val: BigInt(Math.floor(spec.bitOffset / 8)),
        size: elementSize(types, acc.typeId),
        typeId: acc.typeId,
        validate: true,
      };
    if (kind === CoreReloKind.FieldByteSize) {
      const sz = resolveSize(types, acc.typeId);
      if (sz === undefined) throw new SpecError('the element has no size');
      return { val: BigInt(sz), size: 0, typeId: 0, validate: true };
    }
    throw new SpecError(`${coreReloKindName(kind)} cannot be applied to an array element`);
  }
  const holder = typeAt(types, acc.typeId) as BtfType;
  const member = (holder.members ?? [])[acc.idx];
  if (!member) throw new SpecError('accessor names no member');
  const mt = skipMods(types, member.type);
  if (!mt) throw new SpecError('the member type is dangling or a modifier cycle');
  const bitOff = spec.bitOffset;
  let bitSz = member.bitSize;
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = mt.t.size ?? 0;
    if (![1, 2, 4, 8].includes(byteSz)) throw new SpecError(`bitfield of a ${byteSz}-byte type`);
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    // The smallest load that holds the whole bitfield.
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new SpecError('the bitfield cannot be read with one 64-bit load');
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  } else {
    const sz = resolveSize(types, mt.id);
    if (sz === undefined) throw new SpecError('the field has no size');
    byteSz = sz;
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  // Bitfield offsets and sizes are a choice the compiler may make differently: only check the rest.
  let validate = !bitfield;
  switch (kind) {
    case CoreReloKind.FieldByteOffset:
      if (!bitfield) return { val: BigInt(byteOff), size: elementSize(types, mt.id), typeId: mt.id, validate };
      return { val: BigInt(byteOff), size: 0, typeId: 0, validate };
    case CoreReloKind.FieldByteSize:
      return { val: BigInt(byteSz), size: 0, typeId: 0, validate };
    case CoreReloKind.FieldSigned: {
      const t = mt.t;
      const signed =
        ((t.kind === BtfKind.Enum || t.kind === BtfKind.Enum64) && t.signed === true) ||
        (t.kind === BtfKind.Int && ((t.intEncoding ?? 0) & BTF_INT_SIGNED) !== 0);
      return { val: signed ? 1n : 0n, size: 0, typeId: 0, validate: true };
    }
    case CoreReloKind.FieldLshiftU64:
      return { val: BigInt(64 - (bitOff + bitSz - byteOff * 8)), size: 0, typeId: 0, validate };
    case CoreReloKind.FieldRshiftU64:
      validate = true;
      return { val: BigInt(64 - bitSz), size: 0, typeId: 0, validate };
    default:
      throw new SpecError(`unknown field relocation kind ${kind}`);
  }
}

function calcType(kind: CoreReloKind, spec: Spec | undefined): Calc {
  if (!spec) return { val: 0n, size: 0, typeId: 0, validate: true };
  switch (kind) {
    case CoreReloKind.TypeIdTarget:
      return { val: BigInt(spec.rootId), size: 0, typeId: 0, validate: false };
    case CoreReloKind.TypeExists:
    case CoreReloKind.TypeMatches:
      return { val: 1n, size: 0, typeId: 0, validate: true };
    case CoreReloKind.TypeSize: {
      const sz = resolveSize(spec.types, spec.rootId);
      if (sz === undefined) throw new SpecError('the type has no size');
      return { val: BigInt(sz), size: 0, typeId: 0, validate: true };
    }
    default:
      throw new SpecError(`unknown type relocation kind ${kind}`);
  }
}

function calcEnumval(kind: CoreReloKind, spec: Spec | undefined): bigint | undefined {
  if (kind === CoreReloKind.EnumvalExists) return spec ? 1n : 0n;
  if (!spec) return undefined;
  const acc = spec.acc[0];
  const t = acc && typeAt(spec.types, acc.typeId);
  const v = t?.values?.[acc?.idx ?? -1];
  if (!t || !v) throw new SpecError('enumerator vanished');
  // A 32-bit enum's value is a signed 32-bit number, widened to 64 bits (as the compiler wrote it).
  return t.kind === BtfKind.Enum ? U64(BigInt.asIntN(32, v.value)) : U64(v.value);
}

function calcRelo(kind: CoreReloKind, local: Spec, targ: Spec | undefined): Res {
  const res: Res = { orig: 0n, next: 0n, poison: false, validate: true, failMemsz: false, origSize: 0, newSize: 0 };
  if (isFieldKind(kind)) {
    const l = calcField(kind, local) as Calc;
    res.orig = l.val;
    res.origSize = l.size;
    res.validate = l.validate;
    const t = calcField(kind, targ);
    if (!t) {
      res.poison = true;
      return res;
    }
    res.next = t.val;
    res.newSize = t.size;
    if (res.origSize !== res.newSize && targ) {
      const ot = typeAt(local.types, l.typeId);
      const nt = typeAt(targ.types, t.typeId);
      const unsignedInt = (x: BtfType | undefined) => x?.kind === BtfKind.Int && x.intEncoding !== BTF_INT_SIGNED;
      // A 32-bit kernel pointer or an unsigned integer of another width loads correctly with the
      // access resized (zero extension); anything else would read a wrong value.
      const ok = (ot?.kind === BtfKind.Ptr && nt?.kind === BtfKind.Ptr) || (unsignedInt(ot) && unsignedInt(nt));
      res.failMemsz = !ok;
    }
  } else if (isTypeKind(kind)) {
    const l = calcType(kind, local);
    res.orig = l.val;
    res.validate = l.validate;
    res.next = calcType(kind, targ).val;
  } else if (isEnumvalKind(kind)) {
    res.orig = calcEnumval(kind, local) as bigint;
    const t = calcEnumval(kind, targ);
    if (t === undefined) res.poison = true;
    else res.next = t;
  } else {
    throw new SpecError(`unknown relocation kind ${kind}`);
  }
  return res;
}

class PatchError extends Error {}

function poisonAt(v: DataView, off: number): void {
  v.setUint8(off, 0x85); // BPF_JMP | BPF_CALL
  v.setUint8(off + 1, 0);
  v.setInt16(off + 2, 0, true);
  v.setInt32(off + 4, POISON_HELPER, true);
}

/** Patches the instruction at byte `off` with `res`; returns whether it was poisoned. */
function patch(v: DataView, off: number, res: Res): boolean {
  const code = v.getUint8(off);
  const ldImm64 = code === LD_IMM64;
  const poison = () => {
    if (ldImm64 && off + 16 <= v.byteLength) poisonAt(v, off + 8);
    poisonAt(v, off);
    return true;
  };
  if (res.poison) return poison();
  const cls = code & 0x07;
  const show = (x: bigint) => `${x}`;
  switch (cls) {
    case 0x04: // ALU
    case 0x07: {
      // ALU64
      if ((code & 0x08) !== 0)
        throw new PatchError(`instruction 0x${code.toString(16)} takes a register operand, not an immediate`);
      const imm = v.getInt32(off + 4, true);
      if (res.validate && U64(BigInt(imm)) !== res.orig)
        throw new PatchError(`the ALU instruction's immediate is ${imm}, but the object's BTF says ${show(res.orig)}`);
      v.setInt32(off + 4, Number(BigInt.asIntN(32, res.next)), true);
      return false;
    }
    case 0x01: // LDX
    case 0x02: // ST
    case 0x03: {
      // STX
      const insnOff = v.getInt16(off + 2, true);
      if (res.validate && U64(BigInt(insnOff)) !== res.orig)
        throw new PatchError(`the memory instruction's offset is ${insnOff}, but the object's BTF says ${show(res.orig)}`);
      if (res.next > 0x7fffn)
        throw new PatchError(`the kernel's offset ${show(res.next)} does not fit a load/store offset (at most 32767)`);
      if (res.failMemsz) return poison(); // loading it with another width would read a wrong value
      v.setInt16(off + 2, Number(res.next), true);
      if (res.newSize !== res.origSize) {
        const have = SIZE_BYTES[code & 0x18];
        if (have !== res.origSize)
          throw new PatchError(`the memory instruction accesses ${have} bytes, but the field is ${res.origSize}`);
        const size = BYTES_SIZE[res.newSize];
        if (size === undefined)
          throw new PatchError(`the kernel's field is ${res.newSize} bytes, which no load/store can access`);
        v.setUint8(off, (code & 0xe0) | size | cls);
      }
      return false;
    }
    case 0x00: {
      if (!ldImm64 || off + 16 > v.byteLength)
        throw new PatchError(`instruction 0x${code.toString(16)} is not a 64-bit immediate load`);
      const regs0 = v.getUint8(off + 1);
      if (
        regs0 >> 4 !== 0 ||
        v.getInt16(off + 2, true) !== 0 ||
        v.getUint8(off + 8) !== 0 ||
        v.getUint8(off + 9) !== 0 ||
        v.getInt16(off + 10, true) !== 0
      )
        throw new PatchError('the 64-bit immediate load has an unexpected form');
      const imm = BigInt(v.getUint32(off + 4, true)) | (BigInt(v.getUint32(off + 12, true)) << 32n);
      if (res.validate && imm !== res.orig)
        throw new PatchError(`the 64-bit immediate is ${imm}, but the object's BTF says ${show(res.orig)}`);
      v.setUint32(off + 4, Number(res.next & 0xffffffffn), true);
      v.setUint32(off + 12, Number((res.next >> 32n) & 0xffffffffn), true);
      return false;
    }
    default:
      throw new PatchError(
        `instruction 0x${code.toString(16)} (class ${cls}) is not one CO-RE relocates (ALU immediate, load/store, 64-bit immediate)`,
      );
  }
}

function result(relo: CoreRelo, r: Resolved, poisoned: boolean): CoreResult {
  return {
    insnOff: relo.insnOff,
    kind: relo.kind,
    accessString: relo.accessString,
    typePath: r.typePath,
    poisoned,
    localValue: r.res.orig,
    targetValue: r.res.poison ? 0n : r.res.next,
    ...(r.found ? { target: { ...r.found } } : {}),
  };
}

/** Candidate lists per local root type, pruned as relocations narrow them (one per object BTF and target). */
const candidateCache = new WeakMap<readonly BtfType[], WeakMap<TargetBtf, Map<number, KernelBtfType[]>>>();

function candidatesFor(local: readonly BtfType[], rootId: number, root: BtfType, target: TargetBtf): KernelBtfType[] {
  let byTarget = candidateCache.get(local);
  if (!byTarget) {
    byTarget = new WeakMap();
    candidateCache.set(local, byTarget);
  }
  let byRoot = byTarget.get(target);
  if (!byRoot) {
    byRoot = new Map();
    byTarget.set(target, byRoot);
  }
  let list = byRoot.get(rootId);
  if (!list) {
    list = target.candidates(essentialName(root.name), (t) => kindsCompatible(t, root));
    byRoot.set(rootId, list);
  }
  return list;
}

/** A relocation's resolution, as `applyCoreRelocations` reuses it for the same root type, kind and access string. */
interface Resolved {
  res: Res;
  typePath: string;
  found: { btf: string; id: number; typePath: string } | undefined;
  /** The root's candidate list, and its length after this resolution pruned it (lists only shrink). */
  cands: KernelBtfType[] | undefined;
  left: number;
}

/**
 * Resolutions per object BTF and target, by root type id, kind and access string: the same access
 * in many programs (`BPF_CORE_READ(task, pid)` in each) is matched once. One is reused only while
 * its root's candidate list is as that resolution left it, so results are those of matching again.
 */
const resolvedCache = new WeakMap<readonly BtfType[], WeakMap<TargetBtf, Map<string, Resolved>>>();

function resolvedFor(local: readonly BtfType[], target: TargetBtf): Map<string, Resolved> {
  let byTarget = resolvedCache.get(local);
  if (!byTarget) {
    byTarget = new WeakMap();
    resolvedCache.set(local, byTarget);
  }
  let m = byTarget.get(target);
  if (!m) {
    m = new Map();
    byTarget.set(target, m);
  }
  return m;
}

/**
 * Resolves each CO-RE relocation of one ELF section against `target` and patches `insns` (that
 * section's instructions) in place. `local` is the object's `.BTF` as `parseBtf` returns it.
 * Relocations of programs that will not be loaded should be left out (as libbpf skips them).
 * @returns one result per relocation, in order: the values, and whether it was poisoned.
 * @throws {CoreRelocationError} for a relocation that cannot be applied safely: an access string
 *   the local BTF does not support, candidates that disagree, an instruction that does not carry
 *   the value the object's BTF says, a kernel offset too large, or an instruction CO-RE cannot patch.
 */
export function applyCoreRelocations(
  insns: Uint8Array,
  relos: readonly CoreRelo[],
  local: readonly BtfType[],
  target: TargetBtf,
  where: { section: string },
): CoreResult[] {
  const v = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const localTypes: Types = { type: (id) => local[id - 1] };
  const out: CoreResult[] = [];
  const resolved = resolvedFor(local, target);
  for (const relo of relos) {
    const root = relo.typeId > 0 ? local[relo.typeId - 1] : undefined;
    let typePath = `${root ? typeLabel(root) : `type ${relo.typeId}`} + ${relo.accessString}`;
    const fail = (reason: string): never => {
      throw new CoreRelocationError(
        { section: where.section, insnOff: relo.insnOff, kind: relo.kind, accessString: relo.accessString, typePath },
        reason,
      );
    };
    if (!Number.isInteger(relo.insnOff) || relo.insnOff < 0 || relo.insnOff % 8 !== 0 || relo.insnOff + 8 > insns.length)
      fail(`instruction offset ${relo.insnOff} is not an instruction of this ${insns.length}-byte section`);
    if (!root) fail(`local type ${relo.typeId} does not exist (the object's BTF has ${local.length} types)`);
    const rootType = root as BtfType;
    const key = `${relo.typeId}:${relo.kind}:${relo.accessString}`;
    const known = resolved.get(key);
    if (known && (known.cands === undefined || known.cands.length === known.left)) {
      typePath = known.typePath;
      try {
        out.push(result(relo, known, patch(v, relo.insnOff, known.res)));
      } catch (e) {
        if (e instanceof PatchError) fail(e.message);
        throw e;
      }
      continue;
    }
    try {
      const localSpec = parseSpec(localTypes, relo.typeId, relo.accessString, relo.kind);
      typePath = specPath(localSpec);
      let res: Res;
      let found: { btf: string; id: number; typePath: string } | undefined;
      let cands: KernelBtfType[] | undefined;
      if (relo.kind === CoreReloKind.TypeIdLocal) {
        res = {
          orig: BigInt(relo.typeId),
          next: BigInt(relo.typeId),
          poison: false,
          validate: false,
          failMemsz: false,
          origSize: 0,
          newSize: 0,
        };
      } else {
        if (rootType.name === '') fail('CO-RE cannot look up an anonymous type in the kernel (give the type a name)');
        cands = candidatesFor(local, relo.typeId, rootType, target);
        let chosen: { res: Res; spec: Spec } | undefined;
        const kept: KernelBtfType[] = [];
        for (const cand of cands) {
          const spec = matchSpec(localSpec, cand.btf, cand.id);
          if (!spec) continue;
          const r = calcRelo(relo.kind, localSpec, spec);
          if (!chosen) {
            chosen = { res: r, spec };
            found = { btf: cand.btf.name, id: cand.id, typePath: specPath(spec) };
          } else if (spec.bitOffset !== chosen.spec.bitOffset) {
            fail(
              `kernel types disagree on the field's offset: ${found?.typePath} in ${found?.btf} at bit ${chosen.spec.bitOffset}, ${specPath(spec)} at bit ${spec.bitOffset}`,
            );
          } else if (r.poison !== chosen.res.poison || r.next !== chosen.res.next) {
            fail(
              `kernel types disagree on the value: ${chosen.res.next} (${found?.typePath}, id ${found?.id}) and ${r.next} (${specPath(spec)}, id ${cand.id})`,
            );
          }
          kept.push(cand);
        }
        if (kept.length > 0 && kept.length < cands.length) cands.splice(0, cands.length, ...kept);
        res = chosen ? chosen.res : calcRelo(relo.kind, localSpec, undefined);
      }
      const r: Resolved = { res, typePath, found, cands, left: cands?.length ?? 0 };
      resolved.set(key, r);
      out.push(result(relo, r, patch(v, relo.insnOff, res)));
    } catch (e) {
      if (e instanceof SpecError || e instanceof PatchError) fail(e.message);
      // Kernel types are decoded when first needed: a malformed record of a user-provided BTF shows here.
      if (e instanceof BtfParseError) fail(`the target BTF is malformed: ${e.message}`);
      throw e;
    }
  }
  return out;
}
