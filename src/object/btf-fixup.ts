/**
 * The object's `.BTF` as the kernel accepts it. clang leaves work to the
 * loader: DATASEC sizes and variable offsets are only known from the ELF
 * section and symbol tables, externs (`linkage` extern) are refused by the
 * kernel, extern functions (kfuncs) have unnamed parameters. This rewrites
 * the raw blob record by record (type ids never change; records may shrink):
 * - each DATASEC of a section gets the section's size and its variables'
 *   symbol offsets, sorted as the kernel requires;
 * - `.kconfig` gets the layout the loader chose for its externs;
 * - `.ksyms` (kfuncs and `__ksym` variables, which live in the kernel, not
 *   in a map) becomes an empty anonymous struct; its VARs stay, allocated;
 * - extern VARs become global-allocated, extern FUNCs global, and unnamed
 *   parameters of FUNCs' prototypes get a name;
 * - global FUNCs whose symbol is hidden (`__hidden`, as usdt.bpf.h's
 *   helpers) become static, as libbpf does: the verifier then checks them
 *   with their callers' arguments instead of alone.
 */
import { ObjectError } from '../elf/error.js';
import { BTF_HEADER_SIZE, BtfKind, btfInfo, infoKind, infoVlen, typeRecordSize } from '../btf/kinds.js';

/** What the fixup needs to know about the object. */
export interface BtfFixupContext {
  /** Size of the ELF section `name`, or undefined when the object has none. */
  sectionSize(name: string): number | undefined;
  /** Offset of variable `varName` in section `section` (its symbol's value), or undefined. */
  varOffset(section: string, varName: string): number | undefined;
  /** The `.kconfig` layout: offset and size of each extern by name, and the total size. */
  kconfig: { size: number; vars: ReadonlyMap<string, { offset: number; size: number }> } | undefined;
  /** Names of functions whose ELF symbol is global with hidden visibility. */
  hiddenFuncs?: ReadonlySet<string>;
}

/** Returns a fixed copy of the object's raw `.BTF` blob. */
export function fixupBtf(blob: Uint8Array, ctx: BtfFixupContext): Uint8Array {
  const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const fail = (msg: string, offset?: number) => new ObjectError(msg, { section: '.BTF', offset });
  if (blob.length < BTF_HEADER_SIZE) throw fail('the BTF is shorter than its header', 0);
  const hdrLen = v.getUint32(4, true);
  const typeOff = hdrLen + v.getUint32(8, true);
  const typeLen = v.getUint32(12, true);
  const strOff = hdrLen + v.getUint32(16, true);
  const strLen = v.getUint32(20, true);
  if (hdrLen < BTF_HEADER_SIZE || typeOff + typeLen > blob.length || strOff + strLen > blob.length)
    throw fail('the BTF header points past the blob', 0);
  const str = (off: number): string => {
    if (off >= strLen) throw fail(`string offset ${off} is outside the string table`);
    const s = strOff + off;
    const e = blob.indexOf(0, s);
    return Buffer.from(blob.subarray(s, e < 0 || e > strOff + strLen ? strOff + strLen : e)).toString('utf8');
  };
  // First pass: record boundaries, kinds, and the names the fixup reads (of VARs, FUNCs and DATASECs).
  interface Rec {
    start: number;
    end: number;
    kind: BtfKind;
    /** The name, for VAR, FUNC and DATASEC records; '' for the others. */
    name: string;
    /** True when the record has a non-empty name. */
    named: boolean;
    info: number;
  }
  const recs: Rec[] = [];
  let p = typeOff;
  const end = typeOff + typeLen;
  while (p < end) {
    if (p + 12 > end) throw fail('a BTF type runs past the type section', p - typeOff);
    const nameOff = v.getUint32(p, true);
    if (nameOff >= strLen) throw fail(`string offset ${nameOff} is outside the string table`);
    const info = v.getUint32(p + 4, true);
    const kind = infoKind(info);
    const name = kind === BtfKind.Var || kind === BtfKind.Func || kind === BtfKind.Datasec ? str(nameOff) : '';
    const vlen = infoVlen(info);
    const len = typeRecordSize(kind, vlen);
    if (len === undefined) throw fail(`BTF type ${recs.length + 1} has unknown kind ${kind}`, p - typeOff);
    if (p + len > end) throw fail(`BTF type ${recs.length + 1} runs past the type section`, p - typeOff);
    recs.push({ start: p, end: p + len, kind, name, named: blob[strOff + nameOff] !== 0, info });
    p += len;
  }
  const out = new Uint8Array(blob.length + 0);
  const ov = new DataView(out.buffer);
  let q = typeOff;
  out.set(blob.subarray(0, typeOff), 0);
  const varName = (id: number): string | undefined => {
    const r = recs[id - 1];
    return r && (r.kind === BtfKind.Var || r.kind === BtfKind.Func) ? r.name : undefined;
  };
  // A name for unnamed parameters: any existing non-empty string ("a", the first name we find).
  let paramName = 0;
  for (const r of recs)
    if (r.named) {
      paramName = v.getUint32(r.start, true);
      break;
    }
  const externFuncProtos = new Set<number>();
  for (const r of recs)
    if (r.kind === BtfKind.Func && infoVlen(r.info) === 2) externFuncProtos.add(v.getUint32(r.start + 8, true));
  recs.forEach((r, i) => {
    const id = i + 1;
    if (r.kind === BtfKind.Datasec) {
      const vlen = infoVlen(r.info);
      const entries: { type: number; offset: number; size: number }[] = [];
      for (let k = 0; k < vlen; k++) {
        const e = r.start + 12 + 12 * k;
        entries.push({ type: v.getUint32(e, true), offset: v.getUint32(e + 4, true), size: v.getUint32(e + 8, true) });
      }
      let size: number | undefined;
      let keep: typeof entries;
      if (r.name === '.ksyms') size = undefined;
      else if (r.name === '.kconfig' && ctx.kconfig) {
        size = ctx.kconfig.size;
        keep = [];
        for (const e of entries) {
          const n = varName(e.type);
          const k = n === undefined ? undefined : ctx.kconfig.vars.get(n);
          if (k) keep.push({ type: e.type, offset: k.offset, size: k.size });
        }
      } else {
        size = ctx.sectionSize(r.name);
        keep = [];
        if (size !== undefined)
          for (const e of entries) {
            const n = varName(e.type);
            const off = n === undefined ? undefined : ctx.varOffset(r.name, n);
            if (off !== undefined && off + e.size <= size) keep.push({ type: e.type, offset: off, size: e.size });
          }
      }
      if (size === undefined || size === 0 || keep!.length === 0) {
        // Nothing the kernel can check: an empty anonymous struct keeps the type ids.
        ov.setUint32(q, 0, true);
        ov.setUint32(q + 4, btfInfo(BtfKind.Struct, 0), true);
        ov.setUint32(q + 8, 0, true);
        q += 12;
        return;
      }
      keep!.sort((a, b) => a.offset - b.offset);
      out.set(blob.subarray(r.start, r.start + 12), q);
      ov.setUint32(q + 4, btfInfo(BtfKind.Datasec, keep!.length), true);
      ov.setUint32(q + 8, size, true);
      q += 12;
      for (const e of keep!) {
        ov.setUint32(q, e.type, true);
        ov.setUint32(q + 4, e.offset, true);
        ov.setUint32(q + 8, e.size, true);
        q += 12;
      }
      return;
    }
    out.set(blob.subarray(r.start, r.end), q);
    if (r.kind === BtfKind.Var && v.getUint32(r.start + 12, true) === 2) ov.setUint32(q + 12, 1, true);
    if (r.kind === BtfKind.Func && infoVlen(r.info) === 2) ov.setUint32(q + 4, btfInfo(BtfKind.Func, 1), true);
    if (r.kind === BtfKind.Func && infoVlen(r.info) === 1 && ctx.hiddenFuncs?.has(r.name))
      ov.setUint32(q + 4, btfInfo(BtfKind.Func, 0), true);
    if (r.kind === BtfKind.FuncProto && externFuncProtos.has(id)) {
      for (let k = 0; k < infoVlen(r.info); k++) {
        const e = q + 12 + 8 * k;
        if (ov.getUint32(e, true) === 0 && ov.getUint32(e + 4, true) !== 0) ov.setUint32(e, paramName, true);
      }
    }
    q += r.end - r.start;
  });
  const newTypeLen = q - typeOff;
  // Strings follow the types (clang's layout); keep whatever lies between.
  const rest = blob.subarray(end);
  out.set(rest, q);
  const total = q + rest.length;
  ov.setUint32(12, newTypeLen, true);
  if (strOff >= end) ov.setUint32(16, strOff - hdrLen - (end - q), true);
  else throw fail('the BTF string table comes before its types; not supported', 16);
  return out.subarray(0, total);
}
