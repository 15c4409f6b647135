/**
 * Finds the BTF type id of a kernel function, BTF tracepoint typedef or LSM
 * hook in the running kernel's BTF (/sys/kernel/btf/vmlinux), by scanning
 * the type section without decoding it: what `loadProgram({ attachTo })`
 * needs for tracing programs. Cached per process.
 */
import { readFileSync } from 'node:fs';

const KIND_FUNC = 12;
const KIND_TYPEDEF = 8;

let index: Map<string, number> | undefined;

/** Extra bytes after the 12-byte `btf_type` of each kind, per `vlen`. */
function extra(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return 12 * vlen;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return 8 * vlen;
    default:
      return 0;
  }
}

/** `kind:name` → type id, for FUNC and TYPEDEF types of vmlinux BTF. */
function vmlinuxIndex(): Map<string, number> {
  if (index) return index;
  const buf = readFileSync('/sys/kernel/btf/vmlinux');
  const hdrLen = buf.readUInt32LE(4);
  const typeOff = hdrLen + buf.readUInt32LE(8);
  const typeLen = buf.readUInt32LE(12);
  const strOff = hdrLen + buf.readUInt32LE(16);
  const m = new Map<string, number>();
  let id = 1;
  for (let o = typeOff; o + 12 <= typeOff + typeLen; id++) {
    const nameOff = buf.readUInt32LE(o);
    const info = buf.readUInt32LE(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if ((kind === KIND_FUNC || kind === KIND_TYPEDEF) && nameOff !== 0) {
      const start = strOff + nameOff;
      const end = buf.indexOf(0, start);
      m.set(`${kind}:${buf.toString('latin1', start, end)}`, id);
    }
    o += 12 + extra(kind, vlen);
  }
  index = m;
  return m;
}

/** The vmlinux BTF id of FUNC `name`, or undefined. */
export function kernelFuncId(name: string): number | undefined {
  return vmlinuxIndex().get(`${KIND_FUNC}:${name}`);
}

/** The vmlinux BTF id of TYPEDEF `name`, or undefined. */
export function kernelTypedefId(name: string): number | undefined {
  return vmlinuxIndex().get(`${KIND_TYPEDEF}:${name}`);
}

/** Up to `n` vmlinux FUNC names that start like `name`, for suggestions. */
export function kernelFuncsLike(prefix: string, n = 5): string[] {
  const out: string[] = [];
  const key = `${KIND_FUNC}:${prefix}`;
  for (const k of vmlinuxIndex().keys()) {
    if (k.startsWith(key)) out.push(k.slice(3));
    if (out.length >= n) break;
  }
  return out;
}
