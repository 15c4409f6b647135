/**
 * Relocations of an object's code and the linking of each program: what each
 * relocated instruction refers to (a map, global data, a subprogram, an
 * extern), checked when the object is opened; then, per program at load,
 * its instructions followed by every subprogram it calls (transitively, once
 * each, in the order first called, as libbpf appends them), with map fds,
 * data addresses, call offsets and extern ids written in, and the
 * `.BTF.ext` func_info/line_info moved to the final instruction offsets.
 */
import type { BtfExt, BtfExtLineInfo } from '../btf/ext.js';
import { type ElfFile, type ElfSection, type ElfSymbol, R_BPF_64_32, R_BPF_64_64, SHF_EXECINSTR, SHN_UNDEF } from '../elf/elf.js';
import { ObjectError } from '../elf/error.js';
import type { MapSpec } from './maps.js';
import type { ExternSpec, FuncRange } from './spec.js';

const LD_IMM64 = 0x18;
const CALL = 0x85;
/** `src_reg` values of ld_imm64 and call (include/uapi/linux/bpf.h). */
export const PSEUDO_MAP_FD = 1;
export const PSEUDO_MAP_VALUE = 2;
export const PSEUDO_BTF_ID = 3;
export const PSEUDO_FUNC = 4;
export const PSEUDO_CALL = 1;
export const PSEUDO_KFUNC_CALL = 2;

/** What a relocated instruction refers to. */
export type RelocTarget =
  | { kind: 'map'; map: MapSpec }
  | { kind: 'data'; map: string; offset: number }
  | { kind: 'code'; section: ElfSection; byteOffset: number }
  | { kind: 'extern'; ext: ExternSpec };

/** One relocation of a code section, resolved to what it refers to. */
export interface CodeReloc {
  symbol: ElfSymbol;
  target: RelocTarget;
  /** Where the relocation is described, for messages. */
  relSection: string;
  relOffset: number;
}

/** Everything the linker needs about the object. */
export interface LinkInput {
  elf: ElfFile;
  funcs: readonly FuncRange[];
  relocs: ReadonlyMap<number, ReadonlyMap<number, CodeReloc>>;
  ext: BtfExt | undefined;
}

/**
 * Reads and checks the relocations of every code section.
 * @throws {ObjectError} naming the relocation section and entry offset for bad symbols or instructions.
 */
export function collectRelocations(
  elf: ElfFile,
  mapAt: (section: number, offset: number) => MapSpec | undefined,
  dataSections: ReadonlyMap<number, string>,
  externs: ReadonlyMap<string, ExternSpec>,
): Map<number, Map<number, CodeReloc>> {
  const out = new Map<number, Map<number, CodeReloc>>();
  const symbols = elf.symbols();
  for (const sec of elf.sections) {
    if (!(sec.flags & SHF_EXECINSTR) || sec.size === 0) continue;
    const code = elf.data(sec);
    const byInsn = new Map<number, CodeReloc>();
    for (const rel of elf.relocationSectionsFor(sec)) {
      elf.relocations(rel).forEach((r, i) => {
        const where = { section: rel.name, offset: i * (rel.entsize || 16) };
        const sym = symbols[r.symbol] as ElfSymbol;
        const symName = sym.name || `#${sym.index}`;
        if (r.type !== R_BPF_64_64 && r.type !== R_BPF_64_32)
          throw new ObjectError(
            `relocation of type ${r.type} against ${symName}: code takes only R_BPF_64_64 and R_BPF_64_32`,
            where,
          );
        if (r.offset % 8 !== 0 || r.offset + 8 > code.length)
          throw new ObjectError(
            `relocation against ${symName} at offset ${r.offset} is not on an instruction of ${sec.name} (${code.length} bytes)`,
            where,
          );
        const op = code[r.offset]!;
        if (op !== LD_IMM64 && op !== CALL)
          throw new ObjectError(
            `relocation against ${symName} at ${sec.name}+${r.offset} is on instruction opcode 0x${op.toString(16).padStart(2, '0')}: expected ld_imm64 (0x18) or call (0x85)`,
            where,
          );
        if (op === LD_IMM64 && r.offset + 16 > code.length)
          throw new ObjectError(`the ld_imm64 at ${sec.name}+${r.offset} is cut off by the end of the section`, where);
        let target: RelocTarget;
        if (sym.shndx === SHN_UNDEF) {
          const ext = externs.get(sym.name);
          if (!ext) throw new ObjectError(`relocation against the undefined symbol ${symName}, which is no known extern`, where);
          // A kfunc may also be loaded by ld_imm64: its address, tested by bpf_ksym_exists().
          if (op === CALL && ext.kind !== 'kfunc')
            throw new ObjectError(`extern ${symName} is called but is not a function`, where);
          target = { kind: 'extern', ext };
        } else {
          const symSec = elf.sectionAt(sym.shndx, `symbol ${symName}`, where);
          const map = mapAt(symSec.index, sym.value);
          const data = dataSections.get(symSec.index);
          if (symSec.flags & SHF_EXECINSTR) {
            if (sym.value % 8 !== 0) throw new ObjectError(`code symbol ${symName} is not on an instruction boundary`, where);
            target = { kind: 'code', section: symSec, byteOffset: sym.value };
          } else if (op === CALL) {
            throw new ObjectError(`a call relocation against ${symName} in ${symSec.name}, which holds no code`, where);
          } else if (map) target = { kind: 'map', map };
          else if (data !== undefined) target = { kind: 'data', map: data, offset: sym.value };
          else if (symSec.name === '.maps' || symSec.name === 'maps')
            throw new ObjectError(`relocation against ${symName} at ${symSec.name}+${sym.value}, where no map is defined`, where);
          else
            throw new ObjectError(
              `relocation against ${symName} in section ${symSec.name || `#${symSec.index}`}, which is no map, global data or code`,
              where,
            );
        }
        byInsn.set(r.offset / 8, { symbol: sym, target, relSection: rel.name, relOffset: where.offset });
      });
    }
    if (byInsn.size) out.set(sec.index, byInsn);
  }
  return out;
}

/** How each extern resolved at load. */
export type ExternValue =
  | { kind: 'kconfig'; mapFd: number; offset: number }
  | { kind: 'ksym'; btfId: number; btfObjFd: number }
  | { kind: 'kfunc'; btfId: number; fdIndex: number; btfObjFd: number }
  | { kind: 'missing' };

/** What the linker needs at load: fds, section instructions (CO-RE applied), extern values. */
export interface LinkEnv {
  /** The instructions of section `index`, CO-RE relocations applied (one copy per section). */
  sectionCode(section: ElfSection): Uint8Array;
  mapFd(map: MapSpec): number;
  dataMapFd(name: string): number;
  extern(ext: ExternSpec): ExternValue;
}

/** One program, linked. */
export interface LinkedProgram {
  insns: Uint8Array;
  /** func_info and line_info records (kernel layout) when `.BTF.ext` described every function. */
  funcInfo: Uint8Array | undefined;
  lineInfo: Uint8Array | undefined;
  /** The functions in the order placed, with their first instruction. */
  placed: { func: FuncRange; start: number }[];
}

/**
 * Links program `main`: its code, then its subprograms.
 * @throws {ObjectError} naming the program and instruction for calls to nowhere.
 */
export function linkProgram(input: LinkInput, env: LinkEnv, main: FuncRange): LinkedProgram {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const placed = new Map<FuncRange, number>();
  const order: { func: FuncRange; start: number }[] = [];
  const fail = (msg: string, f: FuncRange, i: number) =>
    new ObjectError(msg, { program: main.name, section: f.section.name, offset: (f.start + i) * 8 });

  const funcStarting = (section: ElfSection, insn: number, from: FuncRange, i: number): FuncRange => {
    const f = input.funcs.find((x) => x.section === section && x.start === insn);
    if (!f)
      throw fail(`a call or function address leads to instruction ${insn} of ${section.name}, where no function starts`, from, i);
    return f;
  };

  const place = (f: FuncRange): number => {
    const known = placed.get(f);
    if (known !== undefined) return known;
    const start = length;
    placed.set(f, start);
    order.push({ func: f, start });
    const code = env.sectionCode(f.section);
    const mine = code.slice(f.start * 8, (f.start + f.count) * 8);
    chunks.push(mine);
    length += f.count;
    relocate(f, start, mine);
    return start;
  };

  const relocate = (f: FuncRange, start: number, code: Uint8Array): void => {
    const v = new DataView(code.buffer, code.byteOffset, code.byteLength);
    const relocs = input.relocs.get(f.section.index);
    for (let i = 0; i < f.count; i++) {
      const o = i * 8;
      const op = code[o]!;
      const src = code[o + 1]! >> 4;
      const r = relocs?.get(f.start + i);
      const imm = v.getInt32(o + 4, true);
      if (op === CALL && src === PSEUDO_CALL && (!r || r.target.kind === 'code')) {
        let target: FuncRange;
        if (r && r.target.kind === 'code') target = funcStarting(r.target.section, r.target.byteOffset / 8 + imm + 1, f, i);
        else target = funcStarting(f.section, f.start + i + imm + 1, f, i);
        const at = place(target);
        v.setInt32(o + 4, at - (start + i) - 1, true);
        continue;
      }
      if (!r) {
        if (op === LD_IMM64) i++; // its second half
        continue;
      }
      const t = r.target;
      if (op === CALL) {
        if (t.kind !== 'extern') throw fail(`a call relocation against ${r.symbol.name} that is no function`, f, i);
        const x = env.extern(t.ext);
        if (x.kind === 'kfunc') {
          setSrc(code, o, PSEUDO_KFUNC_CALL);
          v.setInt32(o + 4, x.btfId, true);
          v.setInt16(o + 2, x.fdIndex, true);
        } else {
          // An unresolved __weak kfunc: the verifier accepts it only in dead code (guarded by bpf_ksym_exists).
          setSrc(code, o, PSEUDO_KFUNC_CALL);
          v.setInt32(o + 4, 0, true);
          v.setInt16(o + 2, 0, true);
        }
        continue;
      }
      // ld_imm64: imm of the first half, imm of the second half.
      const imm2At = o + 12;
      switch (t.kind) {
        case 'map':
          setSrc(code, o, PSEUDO_MAP_FD);
          v.setInt32(o + 4, env.mapFd(t.map), true);
          break;
        case 'data':
          setSrc(code, o, PSEUDO_MAP_VALUE);
          v.setInt32(o + 4, env.dataMapFd(t.map), true);
          v.setInt32(imm2At, t.offset + imm, true);
          break;
        case 'code': {
          if ((t.byteOffset + imm) % 8 !== 0) throw fail(`the address of ${r.symbol.name}+${imm} is not an instruction`, f, i);
          const target = funcStarting(t.section, (t.byteOffset + imm) / 8, f, i);
          const at = place(target);
          setSrc(code, o, PSEUDO_FUNC);
          v.setInt32(o + 4, at - (start + i) - 1, true);
          break;
        }
        case 'extern': {
          const x = env.extern(t.ext);
          if (x.kind === 'kconfig') {
            setSrc(code, o, PSEUDO_MAP_VALUE);
            v.setInt32(o + 4, x.mapFd, true);
            v.setInt32(imm2At, x.offset, true);
          } else if (x.kind === 'ksym' || x.kind === 'kfunc') {
            setSrc(code, o, PSEUDO_BTF_ID);
            v.setInt32(o + 4, x.btfId, true);
            v.setInt32(imm2At, x.btfObjFd, true);
          } else {
            // An unresolved __weak extern reads as the constant 0.
            setSrc(code, o, 0);
            v.setInt32(o + 4, 0, true);
            v.setInt32(imm2At, 0, true);
          }
          break;
        }
      }
      i++;
    }
  };

  place(main);
  const insns = new Uint8Array(length * 8);
  let at = 0;
  for (const c of chunks) {
    insns.set(c, at);
    at += c.length;
  }
  const { funcInfo, lineInfo } = btfInfo(input.ext, order);
  return { insns, funcInfo, lineInfo, placed: order };
}

/** Sets the `src_reg` of the instruction at byte `o` of `code`. */
function setSrc(code: Uint8Array, o: number, src: number): void {
  code[o + 1] = (code[o + 1]! & 0x0f) | (src << 4);
}

/** Whether each section's line_info records are in instruction order (as clang writes them), checked once. */
const linesInOrder = new WeakMap<readonly BtfExtLineInfo[], boolean>();

function inOrder(lines: readonly BtfExtLineInfo[]): boolean {
  let known = linesInOrder.get(lines);
  if (known === undefined) {
    known = true;
    for (let j = 1; j < lines.length && known; j++) if (lines[j]!.insnOff < lines[j - 1]!.insnOff) known = false;
    linesInOrder.set(lines, known);
  }
  return known;
}

/** The index of the first of `lines` (in instruction order) at byte offset `off` or later. */
function firstAtOrAfter(lines: readonly BtfExtLineInfo[], off: number): number {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lines[mid]!.insnOff < off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** func_info (8 bytes) and line_info (16 bytes) records at the final instruction offsets. */
function btfInfo(
  ext: BtfExt | undefined,
  order: { func: FuncRange; start: number }[],
): { funcInfo: Uint8Array | undefined; lineInfo: Uint8Array | undefined } {
  if (!ext) return { funcInfo: undefined, lineInfo: undefined };
  const fi = new Uint8Array(8 * order.length);
  const fv = new DataView(fi.buffer);
  const lines: number[] = []; // 4 numbers per line_info record
  let sortedLines = true;
  const sorted = [...order].sort((a, b) => a.start - b.start);
  for (let k = 0; k < sorted.length; k++) {
    const { func, start } = sorted[k]!;
    const rec = ext.funcInfo.get(func.section.name)?.find((r) => r.insnOff === func.start * 8);
    if (!rec) return { funcInfo: undefined, lineInfo: undefined };
    fv.setUint32(8 * k, start, true);
    fv.setUint32(8 * k + 4, rec.typeId, true);
    const lo = func.start * 8;
    const hi = (func.start + func.count) * 8;
    const all = ext.lineInfo.get(func.section.name) ?? [];
    // A function's lines, in the section's order: a run found by binary search when the section's lines are sorted.
    const ordered = inOrder(all);
    for (let j = ordered ? firstAtOrAfter(all, lo) : 0; j < all.length; j++) {
      const l = all[j]!;
      if (l.insnOff >= hi && ordered) break;
      if (l.insnOff < lo || l.insnOff >= hi) continue;
      const at = start + (l.insnOff - lo) / 8;
      if (lines.length > 0 && at < lines[lines.length - 4]!) sortedLines = false;
      lines.push(at, l.fileNameOff, l.lineOff, l.lineCol);
    }
  }
  let lineInfo: Uint8Array | undefined;
  if (lines.length) {
    const n = lines.length / 4;
    // Records in instruction order (already so, unless a section lists its lines out of order); a stable sort.
    const order = Array.from({ length: n }, (_, k) => k);
    if (!sortedLines) order.sort((a, b) => lines[4 * a]! - lines[4 * b]!);
    lineInfo = new Uint8Array(16 * n);
    const lv = new DataView(lineInfo.buffer);
    for (let k = 0; k < n; k++) for (let j = 0; j < 4; j++) lv.setUint32(16 * k + 4 * j, lines[4 * order[k]! + j]!, true);
  }
  return { funcInfo: fi, lineInfo };
}
