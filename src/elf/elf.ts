/**
 * Reading an ELF64 little-endian BPF object (EM_BPF): the header, the section
 * table and names, the symbol table and relocation sections. Every offset,
 * size and index read from the file is checked against the file before use;
 * a violation is an `ObjectError` naming the section and offset.
 */
import { ObjectError } from './error.js';

/** `e_machine` of BPF objects. */
export const EM_BPF = 247;
/** Section types (`sh_type`). */
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
/** Section flags (`sh_flags`). */
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
/** Symbol binding, type and special section indexes. */
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;
/** BPF relocation types (`R_BPF_*`). */
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;
/** More sections than any compiler emits for BPF; refused so a hostile count cannot allocate without bound. */
const MAX_SECTIONS = 1 << 16;
/** The largest zero-filled (NOBITS, `.bss`) section read: far above what a BPF array value may hold. */
const MAX_NOBITS = 64 << 20;

/** One section header, with its name resolved. */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** File offset of the contents (meaningless for SHT_NOBITS). */
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

/** One symbol of `.symtab`. */
export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  bind: number;
  type: number;
  visibility: number;
  /** Section index (`SHN_UNDEF` for externs, `SHN_ABS`, …). */
  shndx: number;
}

/** One relocation of a `SHT_REL`/`SHT_RELA` section. */
export interface ElfRelocation {
  /** Byte offset in the section the relocation applies to. */
  offset: number;
  /** Index into `.symtab`, checked to exist. */
  symbol: number;
  type: number;
  /** `SHT_RELA` addend (0 for `SHT_REL`). */
  addend: number;
}

/** A parsed ELF object: sections, symbols, relocations, with contents bounds-checked. */
export class ElfFile {
  readonly bytes: Uint8Array;
  readonly sections: readonly ElfSection[];
  /** `e_type`: 1 for relocatable objects (what clang -c emits). */
  readonly fileType: number;
  readonly #view: DataView;
  #symbols: readonly ElfSymbol[] | undefined;
  readonly #byName = new Map<string, ElfSection>();

  constructor(input: Uint8Array) {
    // A plain Uint8Array view: `slice()` on a Buffer would not copy, and callers copy with it.
    const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    this.bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const v = this.#view;
    if (bytes.length < 16 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46)
      throw new ObjectError(
        `not an ELF file: expected the magic bytes 7f 45 4c 46 ("\\x7fELF") at the start${bytes.length < 16 ? `, the file has only ${bytes.length} bytes` : ''}`,
        { offset: 0 },
      );
    if (bytes[4] !== 2)
      throw new ObjectError(
        `expected a 64-bit ELF file (EI_CLASS 2), got class ${bytes[4]}${bytes[4] === 1 ? ' (32-bit)' : ''}`,
        {
          offset: 4,
        },
      );
    if (bytes[5] !== 1)
      throw new ObjectError(
        `expected a little-endian ELF file (EI_DATA 1), got ${bytes[5]}${bytes[5] === 2 ? ' (big-endian: compile with -target bpfel or -target bpf on a little-endian host)' : ''}`,
        { offset: 5 },
      );
    if (bytes.length < EHDR_SIZE)
      throw new ObjectError(`truncated ELF header: expected ${EHDR_SIZE} bytes, the file has ${bytes.length}`, { offset: 0 });
    this.fileType = v.getUint16(16, true);
    const machine = v.getUint16(18, true);
    if (machine !== EM_BPF)
      throw new ObjectError(`expected a BPF object (e_machine ${EM_BPF}, EM_BPF), got machine ${machine}`, { offset: 18 });
    const shoff = this.#u64(40, 'e_shoff');
    const shentsize = v.getUint16(58, true);
    let shnum = v.getUint16(60, true);
    let shstrndx = v.getUint16(62, true);
    if (shoff === 0) throw new ObjectError('the ELF file has no section table (e_shoff is 0)', { offset: 40 });
    if (shentsize !== SHDR_SIZE)
      throw new ObjectError(`expected section headers of ${SHDR_SIZE} bytes (e_shentsize), got ${shentsize}`, { offset: 58 });
    this.#within(shoff, SHDR_SIZE, 'the first section header');
    // Extended numbering: section 0 holds the real count and string-table index.
    if (shnum === 0) shnum = this.#u64(shoff + 32, 'sh_size of section 0 (the section count)');
    if (shstrndx === SHN_XINDEX) shstrndx = v.getUint32(shoff + 40, true);
    if (shnum > MAX_SECTIONS) throw new ObjectError(`${shnum} sections: more than the ${MAX_SECTIONS} accepted`, { offset: 60 });
    this.#within(shoff, shnum * SHDR_SIZE, `the section table (${shnum} headers)`);
    const raw: Omit<ElfSection, 'name'>[] = [];
    const nameOffs: number[] = [];
    for (let i = 0; i < shnum; i++) {
      const h = shoff + i * SHDR_SIZE;
      nameOffs.push(v.getUint32(h, true));
      const s = {
        index: i,
        type: v.getUint32(h + 4, true),
        flags: this.#u64(h + 8, `sh_flags of section ${i}`),
        offset: this.#u64(h + 24, `sh_offset of section ${i}`),
        size: this.#u64(h + 32, `sh_size of section ${i}`),
        link: v.getUint32(h + 40, true),
        info: v.getUint32(h + 44, true),
        addralign: this.#u64(h + 48, `sh_addralign of section ${i}`),
        entsize: this.#u64(h + 56, `sh_entsize of section ${i}`),
      };
      if (s.type !== SHT_NOBITS && s.type !== SHT_NULL && (s.offset > bytes.length || s.size > bytes.length - s.offset))
        throw new ObjectError(
          `section ${i} runs past the end of the file: ${s.size} bytes at file offset ${s.offset}, the file has ${bytes.length}`,
          { offset: h },
        );
      raw.push(s);
    }
    if (shstrndx >= shnum || raw[shstrndx]?.type !== SHT_STRTAB)
      throw new ObjectError(`the section-name string table (e_shstrndx ${shstrndx}) is not a string table section`, {
        offset: 62,
      });
    const names = raw[shstrndx]!;
    this.sections = raw.map((s, i) => {
      const name = i === 0 ? '' : this.#string(names, nameOffs[i]!, `the name of section ${i}`);
      const sec = Object.freeze({ ...s, name });
      if (!this.#byName.has(name)) this.#byName.set(name, sec);
      return sec;
    });
  }

  #u64(off: number, what: string): number {
    const x = this.#view.getBigUint64(off, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new ObjectError(`${what} is ${x}: too large`, { offset: off });
    return Number(x);
  }

  #within(off: number, len: number, what: string): void {
    if (off > this.bytes.length || len > this.bytes.length - off)
      throw new ObjectError(
        `${what} (${len} bytes at file offset ${off}) runs past the end of the file (${this.bytes.length} bytes)`,
        {
          offset: off,
        },
      );
  }

  #string(strtab: Omit<ElfSection, 'name'> & { name?: string }, off: number, what: string): string {
    if (off >= strtab.size)
      throw new ObjectError(`${what}: string offset ${off} is outside the string table (${strtab.size} bytes)`, {
        section: strtab.name ?? `#${strtab.index}`,
        offset: off,
      });
    const start = strtab.offset + off;
    const end = this.bytes.indexOf(0, start);
    if (end < 0 || end >= strtab.offset + strtab.size)
      throw new ObjectError(`${what}: the string at offset ${off} has no terminating NUL inside the string table`, {
        section: strtab.name ?? `#${strtab.index}`,
        offset: off,
      });
    return Buffer.from(this.bytes.subarray(start, end)).toString('latin1');
  }

  /** The first section named `name`, or undefined. */
  section(name: string): ElfSection | undefined {
    return this.#byName.get(name);
  }

  /** The section at `index`, or an `ObjectError` naming `what` refers to it. */
  sectionAt(index: number, what: string, where: { section?: string; offset?: number } = {}): ElfSection {
    const s = this.sections[index];
    if (s === undefined || index === 0)
      throw new ObjectError(
        `${what} refers to section index ${index}, but the file has sections 1 to ${this.sections.length - 1}`,
        where,
      );
    return s;
  }

  /** The contents of a section (zeros for SHT_NOBITS, e.g. `.bss`). A view into the file, not a copy. */
  data(s: ElfSection): Uint8Array {
    if (s.type === SHT_NOBITS) {
      if (s.size > MAX_NOBITS)
        throw new ObjectError(`a ${s.size}-byte NOBITS section is larger than the ${MAX_NOBITS} bytes accepted`, {
          section: s.name,
        });
      return new Uint8Array(s.size);
    }
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** The symbol table (`.symtab`), parsed once; empty when the file has none. */
  symbols(): readonly ElfSymbol[] {
    if (this.#symbols) return this.#symbols;
    const tab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!tab) {
      this.#symbols = [];
      return this.#symbols;
    }
    if (tab.entsize !== SYM_SIZE || tab.size % SYM_SIZE !== 0)
      throw new ObjectError(
        `expected ${SYM_SIZE}-byte symbols filling the section, got entsize ${tab.entsize} and size ${tab.size}`,
        {
          section: tab.name,
          offset: 0,
        },
      );
    const strtab = this.sectionAt(tab.link, 'the symbol table (sh_link)', { section: tab.name });
    if (strtab.type !== SHT_STRTAB)
      throw new ObjectError(`sh_link names section ${strtab.name}, which is not a string table`, { section: tab.name });
    const v = this.#view;
    const out: ElfSymbol[] = [];
    for (let i = 0, n = tab.size / SYM_SIZE; i < n; i++) {
      const o = tab.offset + i * SYM_SIZE;
      const info = v.getUint8(o + 4);
      const nameOff = v.getUint32(o, true);
      out.push(
        Object.freeze({
          index: i,
          name: nameOff === 0 ? '' : this.#string(strtab, nameOff, `the name of symbol ${i}`),
          bind: info >> 4,
          type: info & 0xf,
          visibility: v.getUint8(o + 5) & 0x3,
          shndx: v.getUint16(o + 6, true),
          value: this.#u64(o + 8, `st_value of symbol ${i}`),
          size: this.#u64(o + 16, `st_size of symbol ${i}`),
        }),
      );
    }
    this.#symbols = Object.freeze(out);
    return this.#symbols;
  }

  /** The relocation sections (`SHT_REL`/`SHT_RELA`) that apply to section `target`. */
  relocationSectionsFor(target: ElfSection): ElfSection[] {
    return this.sections.filter((s) => (s.type === SHT_REL || s.type === SHT_RELA) && s.info === target.index);
  }

  /** Parses a relocation section, checking each symbol index against `.symtab`. */
  relocations(rel: ElfSection): ElfRelocation[] {
    const entry = rel.type === SHT_RELA ? RELA_SIZE : REL_SIZE;
    if (rel.size % entry !== 0)
      throw new ObjectError(`a relocation section of ${rel.size} bytes is not a whole number of ${entry}-byte entries`, {
        section: rel.name,
        offset: rel.size - (rel.size % entry),
      });
    const nsyms = this.symbols().length;
    const v = this.#view;
    const out: ElfRelocation[] = [];
    for (let i = 0, n = rel.size / entry; i < n; i++) {
      const o = rel.offset + i * entry;
      const offset = this.#u64(o, `r_offset of relocation ${i}`);
      const type = v.getUint32(o + 8, true);
      const symbol = v.getUint32(o + 12, true);
      if (symbol >= nsyms)
        throw new ObjectError(`relocation ${i} refers to symbol ${symbol}, but the symbol table has ${nsyms} symbols`, {
          section: rel.name,
          offset: i * entry,
        });
      const addend = rel.type === SHT_RELA ? Number(v.getBigInt64(o + 16, true)) : 0;
      out.push({ offset, symbol, type, addend });
    }
    return out;
  }
}
