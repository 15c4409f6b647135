/**
 * Reading a binary's USDT probes: the SystemTap `.note.stapsdt` notes (owner
 * "stapsdt", type 3) of an ELF64 little-endian executable or shared library,
 * each probe's pc and semaphore adjusted by the `.stapsdt.base` section (a
 * prelinked file moved it) and turned into file offsets through the program
 * headers. Every read is bounds-checked: a hostile file gives a
 * `UsdtError`, never a crash or an endless loop.
 */
import { readFileSync, statSync } from 'node:fs';

/** A USDT probe that cannot be found, read or attached; the message says which and why. */
export class UsdtError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'UsdtError';
    this.path = path;
  }
}

/** One probe location (one note). */
export interface UsdtNote {
  provider: string;
  name: string;
  /** The argument string (`-4@%eax 8@(%rdi)`), '' for none. */
  args: string;
  /** The probe's virtual address (adjusted by `.stapsdt.base`) and its file offset. */
  pc: bigint;
  pcOffset: number;
  /** The semaphore's virtual address and file offset; 0 when the probe has none. */
  sema: bigint;
  semaOffset: number;
}

/** What a binary's probes are read into. */
export interface UsdtFile {
  /** ET_EXEC (2) or ET_DYN (3). */
  elfType: number;
  /** e_machine: 62 x86-64, 183 arm64. */
  machine: number;
  notes: UsdtNote[];
}

const NT_STAPSDT = 3;
const MAX_NOTES = 1 << 16;

/** Reads every USDT note of the ELF file `path`. @throws {UsdtError} for a file that cannot be read or is not a fitting ELF. */
export function readUsdtNotes(path: string): UsdtFile {
  let buf: Buffer;
  try {
    // a FIFO or device would block or never end: only regular files are read
    if (!statSync(path).isFile()) throw new UsdtError(path, `${path} is not a regular file`);
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof UsdtError) throw e;
    throw new UsdtError(path, `cannot read ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string) => new UsdtError(path, `${path}: ${why}`);
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw bad('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw bad('not a 64-bit little-endian ELF file');
  const elfType = buf.readUInt16LE(16);
  if (elfType !== 2 && elfType !== 3) throw bad(`ELF type ${elfType} is neither an executable nor a shared library`);
  const machine = buf.readUInt16LE(18);
  const inside = (off: number, len: number) => Number.isSafeInteger(off) && len >= 0 && off >= 0 && off + len <= buf.length;
  const u64 = (o: number) => buf.readBigUInt64LE(o);
  const num = (v: bigint) => (v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v));

  const phoff = num(u64(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint; exec: boolean }[] = [];
  if (phnum > 0 && (phentsize < 56 || !inside(phoff, phentsize * phnum))) throw bad('its program headers lie outside the file');
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (buf.readUInt32LE(o) !== 1) continue; // PT_LOAD
    loads.push({ exec: (buf.readUInt32LE(o + 4) & 1) !== 0, offset: u64(o + 8), vaddr: u64(o + 16), filesz: u64(o + 32) });
  }

  const shoff = num(u64(40));
  const shentsize = buf.readUInt16LE(58);
  const shnum = buf.readUInt16LE(60);
  const shstrndx = buf.readUInt16LE(62);
  if (shnum === 0) throw bad('it has no section headers, so no .note.stapsdt');
  if (shentsize < 64 || !inside(shoff, shentsize * shnum)) throw bad('its section headers lie outside the file');
  const sec = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      name: buf.readUInt32LE(o),
      type: buf.readUInt32LE(o + 4),
      addr: u64(o + 16),
      offset: num(u64(o + 24)),
      size: num(u64(o + 32)),
    };
  };
  if (shstrndx >= shnum) throw bad('its section name table index is out of range');
  const strs = sec(shstrndx);
  if (!inside(strs.offset, strs.size)) throw bad('its section name table lies outside the file');
  const secName = (off: number): string => {
    if (off >= strs.size) return '';
    const start = strs.offset + off;
    const end = buf.indexOf(0, start);
    return end < 0 || end > strs.offset + strs.size ? '' : buf.toString('latin1', start, end);
  };
  let noteSec: ReturnType<typeof sec> | undefined;
  let baseAddr: bigint | undefined;
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    const n = secName(s.name);
    if (n === '.note.stapsdt' && s.type === 7) noteSec = s;
    else if (n === '.stapsdt.base') baseAddr = s.addr;
  }
  const notes: UsdtNote[] = [];
  if (!noteSec) return { elfType, machine, notes };
  if (!inside(noteSec.offset, noteSec.size)) throw bad('its .note.stapsdt section lies outside the file');

  const fileOffset = (vaddr: bigint, exec: boolean): number => {
    for (const p of loads)
      if (vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz && (!exec || p.exec)) return num(vaddr - p.vaddr + p.offset);
    return -1;
  };
  const end = noteSec.offset + noteSec.size;
  let o = noteSec.offset;
  while (o + 12 <= end) {
    if (notes.length >= MAX_NOTES) throw bad(`more than ${MAX_NOTES} USDT notes`);
    const namesz = buf.readUInt32LE(o);
    const descsz = buf.readUInt32LE(o + 4);
    const type = buf.readUInt32LE(o + 8);
    const nameAt = o + 12;
    const descAt = nameAt + ((namesz + 3) & ~3);
    const next = descAt + ((descsz + 3) & ~3);
    if (next > end || next <= o) throw bad(`a note at file offset 0x${o.toString(16)} runs past .note.stapsdt`);
    o = next;
    if (type !== NT_STAPSDT || namesz !== 8 || buf.toString('latin1', nameAt, nameAt + 8) !== 'stapsdt\0') continue;
    if (descsz < 24 + 3) throw bad(`a stapsdt note at file offset 0x${(descAt - 12 - 8).toString(16)} is too short`);
    const pc0 = u64(descAt);
    const base = u64(descAt + 8);
    const sema0 = u64(descAt + 16);
    const strings: string[] = [];
    let s = descAt + 24;
    const descEnd = descAt + descsz;
    for (let k = 0; k < 3; k++) {
      const z = buf.indexOf(0, s);
      if (z < 0 || z >= descEnd) throw bad(`a stapsdt note at file offset 0x${descAt.toString(16)} has unterminated strings`);
      strings.push(buf.toString('utf8', s, z));
      s = z + 1;
    }
    const [provider, name, args] = strings as [string, string, string];
    // A prelinked file moved .stapsdt.base: the note's addresses move by as much.
    const delta = baseAddr !== undefined ? baseAddr - base : 0n;
    const pc = BigInt.asUintN(64, pc0 + delta);
    const sema = sema0 === 0n ? 0n : BigInt.asUintN(64, sema0 + delta);
    const pcOffset = fileOffset(pc, true);
    if (pcOffset < 0) throw bad(`probe ${provider}:${name} is at 0x${pc.toString(16)}, outside every executable loaded segment`);
    const semaOffset = sema === 0n ? 0 : fileOffset(sema, false);
    if (semaOffset < 0)
      throw bad(`the semaphore of probe ${provider}:${name} is at 0x${sema.toString(16)}, outside the file's loaded segments`);
    notes.push({ provider, name, args, pc, pcOffset, sema, semaOffset });
  }
  return { elfType, machine, notes };
}
