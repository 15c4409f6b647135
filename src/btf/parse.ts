/**
 * Reading BTF: the raw blob of a kernel BTF object (BPF_BTF_GET_FD_BY_ID +
 * BPF_OBJ_GET_INFO_BY_FD) parsed into plain type records.
 */
import { isAscii } from 'node:buffer';
import { BpfError, errnoName } from '../errors.js';
import { Cmd, closeFd, getFdById, objGetInfo, objGetInfoPointing } from '../sys/bpf.js';
import * as L from '../sys/layout.js';
import { BTF_MAGIC, BtfKind, infoKind, infoKindFlag, infoVlen } from './kinds.js';

/** One member of a BTF struct or union: name, type id, bit offset and bitfield size. */
export interface BtfMember {
  name: string;
  type: number;
  /** Offset in bits from the start of the struct/union. */
  bitOffset: number;
  /** Width in bits for a bitfield; 0 otherwise. */
  bitSize: number;
}

/** One enumerator of a BTF enum: its name and value. */
export interface BtfEnumValue {
  name: string;
  value: bigint;
}

/** One BTF type. Fields beyond `kind`/`name` depend on the kind. */
export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** INT, ENUM, ENUM64, STRUCT, UNION, FLOAT, DATASEC: size in bytes. */
  size?: number;
  /** PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, TYPE_TAG, DECL_TAG: the referred type. */
  type?: number;
  /** INT: encoding bits (signed 1, char 2, bool 4), bit offset and width. */
  intEncoding?: number;
  intOffset?: number;
  intBits?: number;
  /** ARRAY. */
  elemType?: number;
  indexType?: number;
  nelems?: number;
  /** STRUCT/UNION. */
  members?: BtfMember[];
  /** ENUM/ENUM64. */
  values?: BtfEnumValue[];
  /** ENUM/ENUM64: signed values. */
  signed?: boolean;
  /** DATASEC: its variables (VAR type ids) with their offsets and sizes in the section. */
  vars?: BtfVarSecinfo[];
  /** VAR: 0 static, 1 global, 2 extern. */
  linkage?: number;
  /** FWD: true when it declares a union (kind_flag), false for a struct. */
  fwdUnion?: boolean;
  /** FUNC_PROTO: its parameters (name may be empty; type 0 with no name is a `...`). */
  params?: BtfParam[];
}

/** One parameter of a BTF FUNC_PROTO. */
export interface BtfParam {
  name: string;
  type: number;
}

/**
 * The base a split BTF blob (a kernel module's, on top of vmlinux) builds on: how many types it
 * has (the split blob's ids continue after them) and its string table (whose offsets come first).
 */
export interface BtfBase {
  typeCount: number;
  strings: Uint8Array;
}

/** One variable of a DATASEC: its VAR type id, and its offset and size in the section. */
export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}

/** Thrown when a BTF blob is malformed: bad magic, header, or a type that runs past its section. */
export class BtfParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BtfParseError';
  }
}

function sections(blob: Uint8Array) {
  if (blob.length < 24) throw new BtfParseError(`BTF blob of ${blob.length} bytes is shorter than its header`);
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (v.getUint16(0, true) !== BTF_MAGIC) throw new BtfParseError('not BTF (bad magic), or not little-endian');
  const hdrLen = v.getUint32(4, true);
  const typeOff = hdrLen + v.getUint32(8, true);
  const typeLen = v.getUint32(12, true);
  const strOff = hdrLen + v.getUint32(16, true);
  const strLen = v.getUint32(20, true);
  if (typeOff + typeLen > blob.length || strOff + strLen > blob.length) throw new BtfParseError('BTF sections run past the blob');
  return { v, typeOff, typeLen, strings: blob.subarray(strOff, strOff + strLen) };
}

/** The string table of a BTF blob (a view into `blob`), after checking its header. */
export function btfStringTable(blob: Uint8Array): Uint8Array {
  return sections(blob).strings;
}

/**
 * Parses a BTF blob. Type ids start at 1 (0 is void); `types[id - 1]` is type `id`.
 * With `base`, the blob is split BTF: the result holds only its own types, whose ids continue
 * after the base's `typeCount` (so `[...baseTypes, ...result]` is indexed by id), and string
 * offsets below the base's string table size name the base's strings.
 */
export function parseBtf(blob: Uint8Array, base?: BtfBase): BtfType[] {
  const { v, typeOff, typeLen, strings } = sections(blob);
  const baseStrings = base?.strings;
  const baseLen = baseStrings?.length ?? 0;
  const own = Buffer.from(strings.buffer, strings.byteOffset, strings.length);
  const baseBuf = baseStrings && Buffer.from(baseStrings.buffer, baseStrings.byteOffset, baseStrings.length);
  // A string table of plain ASCII (as C names are) is decoded once, names sliced out of it.
  const text = !baseBuf && isAscii(own) ? own.toString('latin1') : undefined;
  const str = (off: number): string => {
    if (text !== undefined) {
      if (off < 0 || off >= text.length) throw new BtfParseError(`string offset ${off} is outside the string section`);
      const end = text.indexOf('\0', off);
      return text.slice(off, end < 0 ? text.length : end);
    }
    let table = own;
    if (baseBuf && off < baseLen) table = baseBuf;
    else off -= baseLen;
    if (off < 0 || off >= table.length) throw new BtfParseError(`string offset ${off + baseLen} is outside the string section`);
    if (table[off] === 0) return '';
    const end = table.indexOf(0, off);
    return table.toString('utf8', off, end < 0 ? table.length : end);
  };
  const firstId = (base?.typeCount ?? 0) + 1;
  const types: BtfType[] = [];
  let p = typeOff;
  const end = typeOff + typeLen;
  const u32 = () => {
    if (p + 4 > end) throw new BtfParseError('a BTF type runs past the type section');
    const x = v.getUint32(p, true);
    p += 4;
    return x;
  };
  while (p < end) {
    const id = types.length + firstId;
    const name = str(u32());
    const info = u32();
    const sizeOrType = u32();
    const kind = infoKind(info);
    const vlen = infoVlen(info);
    const kflag = infoKindFlag(info);
    const t: BtfType = { id, kind, name };
    switch (kind) {
      case BtfKind.Int: {
        const x = u32();
        t.size = sizeOrType;
        t.intEncoding = (x >>> 24) & 0x0f;
        t.intOffset = (x >>> 16) & 0xff;
        t.intBits = x & 0xff;
        break;
      }
      case BtfKind.Array:
        t.elemType = u32();
        t.indexType = u32();
        t.nelems = u32();
        break;
      case BtfKind.Struct:
      case BtfKind.Union:
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++) {
          const mName = str(u32());
          const mType = u32();
          const off = u32();
          t.members.push({
            name: mName,
            type: mType,
            bitOffset: kflag ? off & 0xffffff : off,
            bitSize: kflag ? off >>> 24 : 0,
          });
        }
        break;
      case BtfKind.Enum:
        t.size = sizeOrType;
        t.signed = kflag;
        t.values = [];
        for (let i = 0; i < vlen; i++) {
          const n = str(u32());
          const raw = u32();
          t.values.push({ name: n, value: kflag ? BigInt(raw | 0) : BigInt(raw) });
        }
        break;
      case BtfKind.Enum64:
        t.size = sizeOrType;
        t.signed = kflag;
        t.values = [];
        for (let i = 0; i < vlen; i++) {
          const n = str(u32());
          const lo = BigInt(u32());
          const hi = BigInt(u32());
          const raw = (hi << 32n) | lo;
          t.values.push({ name: n, value: kflag ? BigInt.asIntN(64, raw) : raw });
        }
        break;
      case BtfKind.FuncProto:
        t.type = sizeOrType;
        t.params = [];
        for (let i = 0; i < vlen; i++) {
          const pName = str(u32());
          t.params.push({ name: pName, type: u32() });
        }
        break;
      case BtfKind.Var:
        t.type = sizeOrType;
        t.linkage = u32();
        break;
      case BtfKind.Datasec:
        t.size = sizeOrType;
        t.vars = [];
        for (let i = 0; i < vlen; i++) {
          const vType = u32();
          const offset = u32();
          t.vars.push({ type: vType, offset, size: u32() });
        }
        break;
      case BtfKind.DeclTag:
        t.type = sizeOrType;
        p += 4;
        break;
      case BtfKind.Float:
        t.size = sizeOrType;
        break;
      case BtfKind.Fwd:
        t.type = sizeOrType;
        t.fwdUnion = kflag;
        break;
      case BtfKind.Ptr:
      case BtfKind.Typedef:
      case BtfKind.Volatile:
      case BtfKind.Const:
      case BtfKind.Restrict:
      case BtfKind.Func:
      case BtfKind.TypeTag:
        t.type = sizeOrType;
        break;
      default:
        throw new BtfParseError(`BTF type ${id} has unknown kind ${kind}`);
    }
    types.push(t);
  }
  return types;
}

/** The raw BTF blob of the kernel BTF object with id `id`. @kernel 4.18 */
export function readBtfBlob(id: number): Uint8Array {
  const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
  if (fd < 0)
    throw new BpfError('BPF_BTF_GET_FD_BY_ID', -fd, {
      hint: errnoName(-fd) === 'ENOENT' ? `no BTF object has id ${id}` : undefined,
    });
  try {
    const info = new Uint8Array(L.BtfInfoLayout.SIZE);
    const first = objGetInfo(fd, info);
    if (first.ret < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -first.ret);
    const iv = new DataView(info.buffer);
    const size = iv.getUint32(L.BtfInfoLayout.btfSize, true);
    const blob = new Uint8Array(size);
    // Second call: `btf` points at our buffer of `btf_size` bytes.
    info.fill(0);
    iv.setUint32(L.BtfInfoLayout.btfSize, size, true);
    const r = objGetInfoPointing(fd, info, L.BtfInfoLayout.btf, blob);
    if (r < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r);
    return blob;
  } finally {
    closeFd(fd);
  }
}
