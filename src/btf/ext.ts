/**
 * Reading `.BTF.ext`: the per-section function info, line info and CO-RE relocation records clang
 * writes beside an object's `.BTF`. Layout (include/uapi/linux/btf.h's `btf_ext_header` and
 * libbpf's readers of it): a header giving the offset and length of each subsection after the
 * header; each subsection starts with its record size, then groups of
 * `{ section name offset, record count, records… }` until its end.
 */
import { btfStringTable } from './parse.js';

/** One `bpf_func_info` record: where a function starts and its BTF FUNC type. */
export interface BtfExtFuncInfo {
  /** Byte offset of the function's first instruction within its ELF section. */
  insnOff: number;
  /** The FUNC type id in the object's `.BTF`. */
  typeId: number;
}

/** One `bpf_line_info` record: the source line an instruction came from. */
export interface BtfExtLineInfo {
  /** Byte offset of the instruction within its ELF section. */
  insnOff: number;
  /** Offset of the file name in the `.BTF` string table. */
  fileNameOff: number;
  /** Offset of the source line's text in the `.BTF` string table. */
  lineOff: number;
  /** Line number in the upper 22 bits, column in the lower 10 (the kernel's `line_col`). */
  lineCol: number;
}

/** CO-RE relocation kinds (`enum bpf_core_relo_kind` of `<linux/bpf.h>`). */
export enum CoreReloKind {
  /** Byte offset of a field. */
  FieldByteOffset = 0,
  /** Byte size of a field. */
  FieldByteSize = 1,
  /** 1 when the field exists in the target, else 0. */
  FieldExists = 2,
  /** 1 when the field is a signed integer or signed enum. */
  FieldSigned = 3,
  /** Left shift that puts a bitfield's top bit at bit 63 of a u64. */
  FieldLshiftU64 = 4,
  /** Right shift that then brings the bitfield down to bit 0. */
  FieldRshiftU64 = 5,
  /** The type's id in the object's own BTF. */
  TypeIdLocal = 6,
  /** The matching type's id in the target (kernel) BTF. */
  TypeIdTarget = 7,
  /** 1 when a compatible type exists in the target. */
  TypeExists = 8,
  /** The target type's size in bytes. */
  TypeSize = 9,
  /** 1 when the enumerator exists in the target's enum. */
  EnumvalExists = 10,
  /** The enumerator's value in the target. */
  EnumvalValue = 11,
  /** 1 when a target type matches the local one field by field (`bpf_core_type_matches`). */
  TypeMatches = 12,
}

/** The C name of a relocation kind (`FIELD_BYTE_OFFSET`), or `kind N` for one this library does not know. */
export function coreReloKindName(kind: number): string {
  const name = CoreReloKind[kind];
  return name === undefined ? `kind ${kind}` : name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** One `bpf_core_relo` record: an instruction whose immediate or offset depends on kernel types. */
export interface CoreRelo {
  /** Byte offset of the instruction within its ELF section. */
  insnOff: number;
  /** The local (object `.BTF`) type the access starts from. */
  typeId: number;
  /** The access path: field/array indexes separated by `:` (`0:1:2`), or `0` for type relocations. */
  accessString: string;
  /** What the instruction wants to know. */
  kind: CoreReloKind;
}

/** A parsed `.BTF.ext` section: records grouped by the ELF section (name) they describe. */
export interface BtfExt {
  /** Size of one func_info record as the object wrote it (the kernel takes it as `func_info_rec_size`); 0 when absent. */
  funcInfoRecSize: number;
  /** Size of one line_info record as the object wrote it (`line_info_rec_size`); 0 when absent. */
  lineInfoRecSize: number;
  /** Function starts per ELF section name. */
  funcInfo: Map<string, BtfExtFuncInfo[]>;
  /** Source lines per ELF section name. */
  lineInfo: Map<string, BtfExtLineInfo[]>;
  /** CO-RE relocations per ELF section name. */
  coreRelos: Map<string, CoreRelo[]>;
}

/** Thrown for a malformed `.BTF.ext`; the message names the subsection and the byte offset. */
export class BtfExtError extends Error {
  /** The subsection (`header`, `func_info`, `line_info`, `core_relo`). */
  readonly subsection: string;
  /** Byte offset within `.BTF.ext` where the problem is. */
  readonly offset: number;

  constructor(subsection: string, offset: number, message: string) {
    super(`.BTF.ext ${subsection} at byte ${offset}: ${message}`);
    this.name = 'BtfExtError';
    this.subsection = subsection;
    this.offset = offset;
  }
}

const EXT_MAGIC = 0xeb9f;
/** `btf_ext_header` up to line_info_len; core_relo_off/len follow when hdr_len is at least 32. */
const HEADER_MIN = 24;
const HEADER_CORE = 32;

/** Smallest record each subsection may have (the fields this reader uses). */
const MIN_REC = { func_info: 8, line_info: 16, core_relo: 16 } as const;
type Subsection = keyof typeof MIN_REC;

/**
 * Parses `.BTF.ext` (`ext`), resolving section and access-string names through the string table of
 * the object's `.BTF` (`btf`). Record sizes come from the section: larger records (a newer clang's)
 * are read by their known prefix.
 * @throws {BtfExtError} for a truncated header or subsection, offsets past the end, record sizes
 *   too small or not a multiple of 4, counts that run past their subsection, or string offsets
 *   outside `.BTF`'s string table.
 */
export function parseBtfExt(ext: Uint8Array, btf: Uint8Array): BtfExt {
  if (!(ext instanceof Uint8Array)) throw new TypeError('parseBtfExt takes the .BTF.ext section as a Uint8Array');
  let strings: Uint8Array;
  try {
    strings = btfStringTable(btf);
  } catch (e) {
    throw new BtfExtError('header', 0, `the .BTF its names refer to is unreadable (${(e as Error).message})`);
  }
  const strBuf = Buffer.from(strings.buffer, strings.byteOffset, strings.length);
  const v = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  if (ext.length < HEADER_MIN)
    throw new BtfExtError('header', 0, `${ext.length} bytes is shorter than the ${HEADER_MIN}-byte header`);
  if (v.getUint16(0, true) !== EXT_MAGIC) throw new BtfExtError('header', 0, 'bad magic (expected 0xeb9f, little-endian)');
  if (v.getUint8(2) !== 1) throw new BtfExtError('header', 2, `version ${v.getUint8(2)} (expected 1)`);
  const hdrLen = v.getUint32(4, true);
  if (hdrLen < HEADER_MIN || hdrLen > ext.length)
    throw new BtfExtError('header', 4, `hdr_len ${hdrLen} is outside ${HEADER_MIN}..${ext.length} (the section's size)`);

  const str = (sub: Subsection, at: number, off: number): string => {
    if (off >= strings.length)
      throw new BtfExtError(sub, at, `string offset ${off} is past the .BTF string table (${strings.length} bytes)`);
    const end = strBuf.indexOf(0, off);
    return strBuf.toString('utf8', off, end < 0 ? strings.length : end);
  };

  /** Walks one subsection's groups, calling `read(recordStart, sectionName)` per record; returns the record size. */
  const walk = (
    sub: Subsection,
    offField: number,
    read: (at: number, list: unknown[]) => void,
    out: Map<string, unknown[]>,
  ): number => {
    const off = v.getUint32(offField, true);
    const len = v.getUint32(offField + 4, true);
    if (len === 0) return 0;
    const start = hdrLen + off;
    const end = start + len;
    if (end > ext.length)
      throw new BtfExtError(
        sub,
        offField,
        `off ${off} + len ${len} runs past the section's ${ext.length - hdrLen} bytes after the header`,
      );
    if (len < 4) throw new BtfExtError(sub, start, `${len} bytes cannot hold the record size`);
    const recSize = v.getUint32(start, true);
    if (recSize < MIN_REC[sub] || recSize % 4 !== 0 || recSize > len)
      throw new BtfExtError(sub, start, `record size ${recSize} (expected a multiple of 4, at least ${MIN_REC[sub]})`);
    let p = start + 4;
    while (p < end) {
      if (p + 8 > end) throw new BtfExtError(sub, p, 'a section group header runs past the subsection');
      const name = str(sub, p, v.getUint32(p, true));
      const count = v.getUint32(p + 4, true);
      if (count === 0) throw new BtfExtError(sub, p + 4, `section ${JSON.stringify(name)} has 0 records`);
      p += 8;
      // Checked before anything is allocated, so a huge count costs nothing.
      if (count > (end - p) / recSize)
        throw new BtfExtError(
          sub,
          p - 4,
          `${count} records of ${recSize} bytes for section ${JSON.stringify(name)} run past the subsection`,
        );
      let list = out.get(name);
      if (!list) {
        list = [];
        out.set(name, list);
      }
      for (let i = 0; i < count; i++, p += recSize) read(p, list);
    }
    return recSize;
  };

  const funcInfo = new Map<string, BtfExtFuncInfo[]>();
  const lineInfo = new Map<string, BtfExtLineInfo[]>();
  const coreRelos = new Map<string, CoreRelo[]>();
  const funcInfoRecSize = walk(
    'func_info',
    8,
    (at, list) => list.push({ insnOff: v.getUint32(at, true), typeId: v.getUint32(at + 4, true) }),
    funcInfo as Map<string, unknown[]>,
  );
  const lineInfoRecSize = walk(
    'line_info',
    16,
    (at, list) =>
      list.push({
        insnOff: v.getUint32(at, true),
        fileNameOff: v.getUint32(at + 4, true),
        lineOff: v.getUint32(at + 8, true),
        lineCol: v.getUint32(at + 12, true),
      }),
    lineInfo as Map<string, unknown[]>,
  );
  if (hdrLen >= HEADER_CORE) {
    walk(
      'core_relo',
      24,
      (at, list) =>
        list.push({
          insnOff: v.getUint32(at, true),
          typeId: v.getUint32(at + 4, true),
          accessString: str('core_relo', at + 8, v.getUint32(at + 8, true)),
          kind: v.getUint32(at + 12, true),
        }),
      coreRelos as Map<string, unknown[]>,
    );
  }
  return { funcInfoRecSize, lineInfoRecSize, funcInfo, lineInfo, coreRelos };
}
