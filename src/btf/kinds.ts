/**
 * BTF's binary format (include/uapi/linux/btf.h): the header, the type
 * kinds and the bit fields of `btf_type.info`.
 */
export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
/** `struct btf_header`: magic u16, version u8, flags u8, hdr_len u32, type_off, type_len, str_off, str_len. */
export const BTF_HEADER_SIZE = 24;

/** BTF type kinds (`BTF_KIND_*` of `<linux/btf.h>`). */
export enum BtfKind {
  Unknown = 0,
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

/** `BTF_INT_ENCODING` bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

/** `btf_type.info`: vlen in bits 0-15, kind in bits 24-28, kind_flag in bit 31. */
export function btfInfo(kind: BtfKind, vlen: number, kindFlag = false): number {
  return ((kindFlag ? 1 << 31 : 0) | ((kind & 0x1f) << 24) | (vlen & 0xffff)) >>> 0;
}

export function infoKind(info: number): BtfKind {
  return (info >>> 24) & 0x1f;
}

export function infoVlen(info: number): number {
  return info & 0xffff;
}

export function infoKindFlag(info: number): boolean {
  return info >>> 31 === 1;
}

/** Bytes of one type record of `kind` with `vlen` members (the 12-byte `btf_type` and what follows), undefined for an unknown kind. */
export function typeRecordSize(kind: BtfKind, vlen: number): number | undefined {
  switch (kind) {
    case BtfKind.Int:
    case BtfKind.Var:
    case BtfKind.DeclTag:
      return 16;
    case BtfKind.Array:
      return 24;
    case BtfKind.Struct:
    case BtfKind.Union:
    case BtfKind.Datasec:
    case BtfKind.Enum64:
      return 12 + 12 * vlen;
    case BtfKind.Enum:
    case BtfKind.FuncProto:
      return 12 + 8 * vlen;
    case BtfKind.Ptr:
    case BtfKind.Fwd:
    case BtfKind.Typedef:
    case BtfKind.Volatile:
    case BtfKind.Const:
    case BtfKind.Restrict:
    case BtfKind.Func:
    case BtfKind.Float:
    case BtfKind.TypeTag:
      return 12;
    default:
      return undefined;
  }
}
