/**
 * A minimal ELF64 little-endian symbol reader for uprobes: finds a function
 * symbol in `.symtab` (then `.dynsym`) and turns its address into the file
 * offset the uprobe PMU and tracefs `uprobe_events` want, through the
 * program headers. (To be folded into src/elf/ once that exists.)
 */
import { readFileSync } from 'node:fs';

/** A binary that is not ELF64 LE, or that lacks the symbol; `message` lists what it has. */
export class SymbolNotFoundError extends Error {
  /** The binary and the symbol asked for. */
  readonly path: string;
  readonly symbol: string;
  constructor(path: string, symbol: string, message: string) {
    super(message);
    this.name = 'SymbolNotFoundError';
    this.path = path;
    this.symbol = symbol;
  }
}

interface Sym {
  name: string;
  value: bigint;
  size: bigint;
  type: number;
  shndx: number;
}

function readSymbols(buf: Buffer, path: string): { syms: Sym[]; phdrs: { vaddr: bigint; offset: bigint; filesz: bigint }[] } {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46)
    throw new SymbolNotFoundError(path, '', `${path} is not an ELF file`);
  if (buf[4] !== 2 || buf[5] !== 1) throw new SymbolNotFoundError(path, '', `${path} is not a 64-bit little-endian ELF file`);
  const phoff = Number(buf.readBigUInt64LE(32));
  const shoff = Number(buf.readBigUInt64LE(40));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const inside = (off: number, len: number) => off >= 0 && len >= 0 && off + len <= buf.length;
  const phdrs: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (!inside(o, 56)) break;
    if (buf.readUInt32LE(o) !== 1) continue; // PT_LOAD
    phdrs.push({ offset: buf.readBigUInt64LE(o + 8), vaddr: buf.readBigUInt64LE(o + 16), filesz: buf.readBigUInt64LE(o + 32) });
  }
  const sections: { type: number; offset: number; size: number; link: number; entsize: number }[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    if (!inside(o, 64)) break;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 24)),
      size: Number(buf.readBigUInt64LE(o + 32)),
      link: buf.readUInt32LE(o + 40),
      entsize: Number(buf.readBigUInt64LE(o + 56)),
    });
  }
  const syms: Sym[] = [];
  // SHT_SYMTAB (2) first, then SHT_DYNSYM (11)
  for (const wanted of [2, 11]) {
    for (const s of sections) {
      if (s.type !== wanted || s.entsize < 24 || !inside(s.offset, s.size)) continue;
      const strs = sections[s.link];
      if (!strs || !inside(strs.offset, strs.size)) continue;
      for (let o = s.offset; o + 24 <= s.offset + s.size; o += s.entsize) {
        const nameOff = buf.readUInt32LE(o);
        if (nameOff === 0 || nameOff >= strs.size) continue;
        const start = strs.offset + nameOff;
        const end = buf.indexOf(0, start);
        if (end < 0 || end > strs.offset + strs.size) continue;
        syms.push({
          name: buf.toString('utf8', start, end),
          type: (buf[o + 4] as number) & 0xf,
          shndx: buf.readUInt16LE(o + 6),
          value: buf.readBigUInt64LE(o + 8),
          size: buf.readBigUInt64LE(o + 16),
        });
      }
    }
  }
  return { syms, phdrs };
}

/** Distance for suggestions (common prefix counts most). */
function score(a: string, b: string): number {
  if (a.includes(b) || b.includes(a)) return 0;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return Math.max(a.length, b.length) - i + 1;
}

/**
 * The file offset of function `symbol` in the ELF file `path` (for a uprobe).
 * @throws {SymbolNotFoundError} when the file is not ELF64 LE, lacks the symbol, or the symbol is not in a loaded segment.
 */
export function symbolFileOffset(path: string, symbol: string): number {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SymbolNotFoundError(path, symbol, `cannot read ${path}: ${(e as Error).message}`);
  }
  const { syms, phdrs } = readSymbols(buf, path);
  // STT_FUNC (2) and STT_GNU_IFUNC (10), defined (shndx != 0)
  const funcs = syms.filter((s) => (s.type === 2 || s.type === 10) && s.shndx !== 0);
  const hit = funcs.find((s) => s.name === symbol) ?? funcs.find((s) => s.name.split('@')[0] === symbol);
  if (!hit) {
    const names = [...new Set(funcs.map((s) => s.name))];
    const near = names.sort((x, y) => score(symbol, x) - score(symbol, y) || x.localeCompare(y)).slice(0, 5);
    throw new SymbolNotFoundError(
      path,
      symbol,
      names.length === 0
        ? `${path} has no function symbols (.symtab/.dynsym): it is stripped; give a file offset instead of "${symbol}"`
        : `${path} has no function "${symbol}" in .symtab/.dynsym; nearest: ${near.join(', ')}`,
    );
  }
  for (const p of phdrs)
    if (hit.value >= p.vaddr && hit.value < p.vaddr + p.filesz) return Number(hit.value - p.vaddr + p.offset);
  throw new SymbolNotFoundError(
    path,
    symbol,
    `${symbol} in ${path} is at 0x${hit.value.toString(16)}, outside every loaded segment`,
  );
}
