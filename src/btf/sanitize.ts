/**
 * An object's BTF made loadable on a kernel that lacks some BTF kinds. clang emits every kind it
 * knows; an older kernel refuses the whole blob for one it does not. Each missing kind is rewritten
 * to one the kernel has, keeping every type id (so map, func_info and CO-RE references stay valid):
 * - FUNC_PROTO → ENUM of its parameters, FUNC → TYPEDEF (no BTF functions: 4.18-4.20);
 * - global FUNC → static (no global function linkage: before 5.6);
 * - VAR → 1-byte INT, DATASEC → STRUCT with the variables as members (before 5.2);
 * - FLOAT → empty STRUCT of its size (before 5.13);
 * - DECL_TAG → 1-byte INT (before 5.16); TYPE_TAG → CONST (before 5.17);
 * - ENUM64 → empty UNION of its size, and signed ENUMs unsigned (before 6.0).
 * What the running kernel has is asked of it once per process, by loading one tiny blob per kind.
 */
import { btfLoad, closeFd } from '../sys/bpf.js';
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_VERSION, BtfKind, btfInfo, infoKind, infoVlen, typeRecordSize } from './kinds.js';

/** The BTF kinds and flags a kernel may lack, each true when the running kernel accepts it. */
export interface BtfKernelFeatures {
  /** FUNC and FUNC_PROTO (4.20+ for loading, 5.0 with func_info). */
  func: boolean;
  /** FUNC with global linkage (5.6). */
  funcGlobal: boolean;
  /** VAR and DATASEC (5.2). */
  datasec: boolean;
  /** FLOAT (5.13). */
  float: boolean;
  /** DECL_TAG (5.16). */
  declTag: boolean;
  /** TYPE_TAG (5.17). */
  typeTag: boolean;
  /** ENUM64 and signed ENUM (6.0). */
  enum64: boolean;
}

const ALL: BtfKernelFeatures = {
  func: true,
  funcGlobal: true,
  datasec: true,
  float: true,
  declTag: true,
  typeTag: true,
  enum64: true,
};

type Rec = [name: number, info: number, sizeOrType: number, ...extra: number[]];

/** A BTF blob of `types` (each a run of u32s) and `strings` (joined by NUL, "" first). */
function blobOf(types: Rec[], strings: string[]): Uint8Array {
  const words = types.flat();
  const str = Buffer.from(`${strings.join('\0')}\0`, 'latin1');
  const out = new Uint8Array(BTF_HEADER_SIZE + words.length * 4 + str.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, BTF_MAGIC, true);
  v.setUint8(2, BTF_VERSION);
  v.setUint32(4, BTF_HEADER_SIZE, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, str.length, true);
  for (const [i, w] of words.entries()) v.setUint32(BTF_HEADER_SIZE + 4 * i, w >>> 0, true);
  out.set(str, BTF_HEADER_SIZE + words.length * 4);
  return out;
}

/** Whether the kernel loads `blob` (the fd is closed again). */
function accepts(blob: Uint8Array): boolean {
  const fd = btfLoad(blob, null, 0);
  if (fd < 0) return false;
  closeFd(fd);
  return true;
}

// Probe strings: "" at 0, "int" at 1, "x" at 5, ".data" at 7, "tag" at 13.
const PROBE_STRINGS = ['', 'int', 'x', '.data', 'tag'];
const INT: Rec = [1, btfInfo(BtfKind.Int, 0), 4, (1 << 24) | 32]; // int: signed, 32 bits
const PROBES: Record<keyof BtfKernelFeatures, Rec[]> = {
  func: [INT, [0, btfInfo(BtfKind.FuncProto, 0), 1], [5, btfInfo(BtfKind.Func, 0), 2]],
  funcGlobal: [INT, [0, btfInfo(BtfKind.FuncProto, 0), 1], [5, btfInfo(BtfKind.Func, 1), 2]],
  datasec: [INT, [5, btfInfo(BtfKind.Var, 0), 1, 1], [7, btfInfo(BtfKind.Datasec, 1), 4, 2, 0, 4]],
  float: [[1, btfInfo(BtfKind.Float, 0), 4]],
  declTag: [INT, [5, btfInfo(BtfKind.Var, 0), 1, 1], [13, btfInfo(BtfKind.DeclTag, 0), 2, 0xffffffff]],
  typeTag: [INT, [13, btfInfo(BtfKind.TypeTag, 0), 1], [0, btfInfo(BtfKind.Ptr, 0), 2]],
  enum64: [[5, btfInfo(BtfKind.Enum64, 1), 8, 13, 0, 1]],
};

let probed: BtfKernelFeatures | undefined;
let assumedMissing: ReadonlySet<keyof BtfKernelFeatures> = new Set();

/** What the running kernel's BTF loader accepts (asked once per process), less what tests assume missing. */
export function kernelBtfFeatures(): BtfKernelFeatures {
  if (!probed) {
    const p = { ...ALL };
    for (const k of Object.keys(PROBES) as (keyof BtfKernelFeatures)[]) p[k] = accepts(blobOf(PROBES[k], PROBE_STRINGS));
    probed = p;
  }
  const f = { ...probed };
  for (const k of assumedMissing) f[k] = false;
  return f;
}

/** For tests of older kernels: treat these features as missing from now on (an empty list undoes it). */
export function assumeBtfFeaturesMissing(names: readonly (keyof BtfKernelFeatures)[]): void {
  for (const n of names) if (!Object.hasOwn(ALL, n)) throw new RangeError(`unknown BTF feature ${JSON.stringify(n)}`);
  assumedMissing = new Set(names);
}

/** Whether `f` lacks anything `sanitizeBtf` would rewrite. */
export function lacksAny(f: BtfKernelFeatures): boolean {
  return !(f.func && f.funcGlobal && f.datasec && f.float && f.declTag && f.typeTag && f.enum64);
}

/**
 * Returns `blob` rewritten for a kernel with features `f` (the same array when it lacks nothing).
 * The blob is one the loader built or checked (its header and records are well-formed): a
 * malformed record is a RangeError.
 */
export function sanitizeBtf(blob: Uint8Array, features: BtfKernelFeatures): Uint8Array {
  if (!lacksAny(features)) return blob;
  // A DECL_TAG may name a VAR or FUNC: where those become INT/TYPEDEF, the tag goes too (no kernel has
  // DECL_TAG without them).
  const f = { ...features, declTag: features.declTag && features.datasec && features.func };
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const hdrLen = v.getUint32(4, true);
  const typeOff = hdrLen + v.getUint32(8, true);
  const typeLen = v.getUint32(12, true);
  const strOff = hdrLen + v.getUint32(16, true);
  const strLen = v.getUint32(20, true);
  const typeEnd = typeOff + typeLen;
  if (typeEnd > blob.length || strOff + strLen > blob.length || strOff < typeEnd)
    throw new RangeError('sanitizeBtf: the BTF header points past the blob, or strings come before types');
  // New strings go after the old ones: offsets into the string table.
  const added: string[] = [];
  let nextStr = strLen;
  const addString = (s: string): number => {
    const at = nextStr;
    added.push(s);
    nextStr += Buffer.byteLength(s, 'latin1') + 1;
    return at;
  };
  const readString = (off: number): string => {
    const s = strOff + off;
    const e = blob.indexOf(0, s);
    return Buffer.from(blob.subarray(s, e < 0 ? strOff + strLen : e)).toString('latin1');
  };
  // Where each type's record starts (type id i at starts[i - 1]), for DATASEC members' names.
  const starts: number[] = [];
  for (let p = typeOff; p < typeEnd; ) {
    const info = v.getUint32(p + 4, true);
    const len = typeRecordSize(infoKind(info), infoVlen(info));
    if (len === undefined || p + len > typeEnd) throw new RangeError(`sanitizeBtf: a malformed type at byte ${p - typeOff}`);
    starts.push(p);
    p += len;
  }
  const nameOf = (id: number): number => (id >= 1 && id <= starts.length ? v.getUint32(starts[id - 1]!, true) : 0);
  let argName = -1;
  const out = new Uint8Array(typeLen); // records only shrink
  const ov = new DataView(out.buffer);
  let q = 0;
  for (let p = typeOff; p < typeEnd; ) {
    const info = v.getUint32(p + 4, true);
    const kind = infoKind(info);
    const vlen = infoVlen(info);
    const len = typeRecordSize(kind, vlen)!;
    out.set(blob.subarray(p, p + len), q);
    let keep = len;
    const name = v.getUint32(p, true);
    const setInfo = (k: BtfKind, n: number, flag = false) => ov.setUint32(q + 4, btfInfo(k, n, flag), true);
    if (!f.func && kind === BtfKind.FuncProto) {
      // ENUM of the parameters: {name, type} becomes {name, value}; enum values need names.
      setInfo(BtfKind.Enum, vlen);
      ov.setUint32(q + 8, 4, true);
      for (let i = 0; i < vlen; i++) {
        const e = q + 12 + 8 * i;
        if (ov.getUint32(e, true) === 0) {
          if (argName < 0) argName = addString('arg');
          ov.setUint32(e, argName, true);
        }
        ov.setUint32(e + 4, i, true);
      }
    } else if (!f.func && kind === BtfKind.Func) setInfo(BtfKind.Typedef, 0);
    else if (!f.funcGlobal && kind === BtfKind.Func) setInfo(BtfKind.Func, 0);
    else if (!f.datasec && kind === BtfKind.Var) {
      setInfo(BtfKind.Int, 0);
      ov.setUint32(q + 8, 1, true);
      ov.setUint32(q + 12, 8, true); // 8 bits, unsigned
    } else if (!f.datasec && kind === BtfKind.Datasec) {
      // STRUCT named like the section with dots made '_'; members are the variables, offsets in bits.
      ov.setUint32(q, addString(readString(name).replace(/[^A-Za-z0-9_]/g, '_')), true);
      setInfo(BtfKind.Struct, vlen);
      for (let i = 0; i < vlen; i++) {
        const e = q + 12 + 12 * i;
        const varId = ov.getUint32(e, true);
        const offset = ov.getUint32(e + 4, true);
        ov.setUint32(e, nameOf(varId), true);
        ov.setUint32(e + 4, varId, true);
        ov.setUint32(e + 8, offset * 8, true);
      }
    } else if (!f.float && kind === BtfKind.Float) {
      ov.setUint32(q, 0, true);
      setInfo(BtfKind.Struct, 0);
    } else if (!f.declTag && kind === BtfKind.DeclTag) {
      ov.setUint32(q, 0, true);
      setInfo(BtfKind.Int, 0);
      ov.setUint32(q + 8, 1, true);
      ov.setUint32(q + 12, 8, true);
    } else if (!f.typeTag && kind === BtfKind.TypeTag) {
      ov.setUint32(q, 0, true);
      setInfo(BtfKind.Const, 0);
    } else if (!f.enum64 && kind === BtfKind.Enum64) {
      setInfo(BtfKind.Union, 0);
      keep = 12;
    } else if (!f.enum64 && kind === BtfKind.Enum) setInfo(BtfKind.Enum, vlen, false);
    q += keep;
    p += len;
  }
  const strings = Buffer.from(added.map((s) => `${s}\0`).join(''), 'latin1');
  const res = new Uint8Array(hdrLen + q + strLen + strings.length);
  const rv = new DataView(res.buffer);
  res.set(blob.subarray(0, hdrLen), 0);
  rv.setUint32(8, 0, true);
  rv.setUint32(12, q, true);
  rv.setUint32(16, q, true);
  rv.setUint32(20, strLen + strings.length, true);
  res.set(out.subarray(0, q), hdrLen);
  res.set(blob.subarray(strOff, strOff + strLen), hdrLen + q);
  res.set(strings, hdrLen + q + strLen);
  return res;
}
