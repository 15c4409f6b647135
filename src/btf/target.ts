/**
 * The running kernel's BTF, as CO-RE relocations, `__ksym` externs and `attachTo` need it:
 * vmlinux (`/sys/kernel/btf/vmlinux`) and each module's split BTF (`/sys/kernel/btf/<module>`, type
 * ids continuing after vmlinux's), read once per process on first use (vmlinux from its kernel BTF
 * object when allowed, in one copy; modules only when a lookup misses vmlinux). For kernels without BTF, a BTF blob or
 * file the user has stands in for vmlinux (`TargetBtf.fromBytes` / `fromFile`).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { BpfError } from '../errors.js';
import { Cmd, closeFd, getFdById, getNextId, objGetInfoPointing } from '../sys/bpf.js';
import * as L from '../sys/layout.js';
import { type BtfKind, typeRecordSize } from './kinds.js';
import { BtfParseError, type BtfType, btfStringTable, parseBtf } from './parse.js';

const SYSFS_BTF = '/sys/kernel/btf';
/** Different names looked up by searching the string table before a full name index is built. */
const FULL_INDEX_AFTER = 64;
/** Up to this many string positions, `#typesAt` scans the name offsets natively once per position. */
const NATIVE_SCANS_UPTO = 8;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ENOENT = 2;

/** Thrown when no target BTF can be had: the kernel has none, or the given file is not BTF. */
export class BtfTargetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BtfTargetError';
  }
}

/**
 * The part of a type name CO-RE matches on: everything before the last `___` that is followed by
 * a non-underscore (`task_struct___v1` → `task_struct`). Names without such a suffix are returned whole.
 */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name.charCodeAt(i) !== 95 && name.startsWith('___', i + 1) && name.charCodeAt(i + 4) !== 95) return name.slice(0, i + 1);
  }
  return name;
}

/** A type found in kernel BTF: which BTF object holds it, its id there, and the type. */
export interface KernelBtfType {
  btf: KernelBtf;
  id: number;
  type: BtfType;
}

/** Bytes a type record takes after its 12-byte header (undefined: an unknown kind). */
function trailerSize(kind: number, vlen: number): number | undefined {
  const size = typeRecordSize(kind, vlen);
  return size === undefined ? undefined : size - 12;
}

/** `trailerSize` as tables by kind, in 4-byte words: header and fixed words (0: unknown kind), words per vlen. */
const HEADER_WORDS = new Int8Array(32);
const VLEN_WORDS = new Int8Array(32);
for (let k = 0; k < 32; k++) {
  const none = trailerSize(k, 0);
  HEADER_WORDS[k] = none === undefined ? 0 : 3 + none / 4;
  VLEN_WORDS[k] = none === undefined ? 0 : ((trailerSize(k, 1) as number) - none) / 4;
}

/**
 * Records the byte offset (from `typeOff`, the words' start in the blob) and name offset of each
 * type record in `words`, the type section: the number of records, or -1 - the index of the first
 * record that runs past the section or has an unknown kind (its offset recorded too). One tight loop: it runs over
 * vmlinux's ~130k records once per process, mostly before V8 optimizes it.
 */
function locateWords(words: Uint32Array, typeOff: number, offsets: Uint32Array, nameOffs: Uint32Array): number {
  const last = words.length;
  let n = 0;
  let w = 0;
  for (; w < last; n++) {
    const info = words[w + 1] as number; // undefined past the end: kind 0, refused below
    const kind = (info >>> 24) & 0x1f;
    const header = HEADER_WORDS[kind] as number;
    offsets[n] = typeOff + 4 * w;
    if (header === 0 || w + 3 > last) return -1 - n;
    nameOffs[n] = words[w] as number;
    const next = w + header + (VLEN_WORDS[kind] as number) * (info & 0xffff);
    if (next > last) return -1 - n;
    w = next;
  }
  return n;
}

/**
 * A byte per string-table position, all zero except during `KernelBtf#typesAt` (which clears what
 * it marked): one buffer for vmlinux and every module, grown to the longest table.
 */
let sharedMarks = new Uint8Array(0);

/**
 * One kernel BTF object: vmlinux or one module (split on vmlinux), or a user-provided stand-in for
 * vmlinux. Reading it only locates each type record and its name (vmlinux has ~130k types); a type
 * is decoded when first asked for. Names are found by searching the string table, and through a
 * hash index of every name once `FULL_INDEX_AFTER` different names were looked up.
 */
export class KernelBtf {
  /** `vmlinux`, the module's name, or the file name of a user-provided BTF. */
  readonly name: string;
  /** The first id this object defines: 1 for vmlinux, one past vmlinux's last for a module. */
  readonly firstId: number;
  /** Number of type ids, including vmlinux's for a module (ids run 1..count). */
  readonly count: number;
  /** True for a module's split BTF. */
  readonly isModule: boolean;
  /** True when this BTF came from the running kernel (so it has a kernel BTF object id). */
  readonly fromKernel: boolean;
  /** The string table that name offsets index (for a module: vmlinux's followed by its own). */
  readonly strings: Uint8Array;
  readonly #base: KernelBtf | undefined;
  readonly #blob: Uint8Array;
  /** Byte offset and length of each own type record in `#blob`, and its name offset. */
  readonly #offsets: Uint32Array;
  readonly #nameOffs: Uint32Array;
  /** Types decoded so far, by own index (a Map: an array of ~130k slots would be a slow dictionary in V8). */
  readonly #decoded = new Map<number, BtfType>();
  readonly #strBuf: Buffer;
  /**
   * The full name index, built once `FULL_INDEX_AFTER` names were looked up: an open-addressing hash table of own type indexes + 1
   * (0: empty slot), hashed on the bytes of each type's name, so no name is decoded to find one.
   * Types sharing a name each have their own slot along the same probe sequence.
   */
  #slots: Int32Array | undefined;
  /** Lookups done so far, by (latin1) name. */
  readonly #byName = new Map<string, readonly number[]>();
  /** Flavored names (`name___flavor`) found so far, by (latin1) essential name: their own type indexes. */
  readonly #flavored = new Map<string, readonly number[]>();
  /** True once `#flavored` holds every flavored name (`#indexFlavors`). */
  #allFlavors = false;
  #objectId: number | undefined;
  #fd = -1;

  /**
   * @internal Locates the types of `blob` (split on `base` when given).
   * @throws {BtfParseError} for a bad header, a record running past the type section or an unknown kind.
   */
  constructor(name: string, blob: Uint8Array, base: KernelBtf | undefined, fromKernel: boolean, objectId?: number) {
    this.name = name;
    this.#objectId = objectId;
    this.#base = base;
    this.#blob = blob;
    this.isModule = base !== undefined;
    this.fromKernel = fromKernel;
    const own = btfStringTable(blob); // checks the header
    this.strings = base ? Buffer.concat([base.strings, own]) : own;
    this.#strBuf = Buffer.from(this.strings.buffer, this.strings.byteOffset, this.strings.length);
    const v = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const hdrLen = v.getUint32(4, true);
    const typeOff = hdrLen + v.getUint32(8, true);
    const end = typeOff + v.getUint32(12, true);
    const max = Math.floor((end - typeOff) / 12) + 1;
    const offsets = new Uint32Array(max);
    const nameOffs = new Uint32Array(max);
    let n = 0;
    let p = typeOff;
    // Records are 4-byte aligned in the blob: read them as u32 words where the host is little-endian.
    if ((blob.byteOffset + typeOff) % 4 === 0 && (end - typeOff) % 4 === 0 && LITTLE_ENDIAN) {
      const words = new Uint32Array(blob.buffer, blob.byteOffset + typeOff, (end - typeOff) / 4);
      n = locateWords(words, typeOff, offsets, nameOffs);
      if (n < 0) {
        const bad = -n - 1;
        const at = ((offsets[bad] as number) - typeOff) / 4;
        const kind = at + 3 > words.length ? 0 : ((words[at + 1] as number) >>> 24) & 0x1f;
        throw new BtfParseError(
          HEADER_WORDS[kind] === 0 && at + 3 <= words.length
            ? `${name}: type ${bad + 1} has unknown kind ${kind}`
            : `${name}: type ${bad + 1} runs past the type section`,
        );
      }
      p = end;
    }
    for (; p < end; n++) {
      if (p + 12 > end) throw new BtfParseError(`${name}: type ${n + 1} runs past the type section`);
      const info = v.getUint32(p + 4, true);
      const extra = trailerSize((info >>> 24) & 0x1f, info & 0xffff);
      if (extra === undefined) throw new BtfParseError(`${name}: type ${n + 1} has unknown kind ${(info >>> 24) & 0x1f}`);
      offsets[n] = p;
      nameOffs[n] = v.getUint32(p, true);
      p += 12 + extra;
      if (p > end) throw new BtfParseError(`${name}: type ${n + 1} runs past the type section`);
    }
    this.#offsets = offsets.subarray(0, n + 1);
    this.#offsets[n] = end;
    this.#nameOffs = nameOffs.subarray(0, n);
    this.firstId = (base?.count ?? 0) + 1;
    this.count = this.firstId - 1 + n;
  }

  /** The type with id `id`, decoded on first use, or `undefined` (0, void, is not a type record). */
  type(id: number): BtfType | undefined {
    if (id < this.firstId) return id > 0 ? this.#base?.type(id) : undefined;
    const i = id - this.firstId;
    if (i >= this.#nameOffs.length) return undefined;
    const known = this.#decoded.get(i);
    if (known) return known;
    // One record as a blob of its own, its strings the whole table (as a split BTF's base).
    const from = this.#offsets[i] as number;
    const len = (this.#offsets[i + 1] as number) - from;
    const one = new Uint8Array(24 + len);
    const hv = new DataView(one.buffer);
    hv.setUint16(0, 0xeb9f, true);
    hv.setUint8(2, 1);
    hv.setUint32(4, 24, true);
    hv.setUint32(12, len, true);
    hv.setUint32(16, len, true);
    one.set(this.#blob.subarray(from, from + len), 24);
    const t = parseBtf(one, { typeCount: id - 1, strings: this.strings })[0] as BtfType;
    this.#decoded.set(i, t);
    return t;
  }

  /** True when the string at `off` in the string table is exactly `key` (latin1). */
  #nameIs(off: number, key: string): boolean {
    const b = this.#strBuf;
    if (off + key.length > b.length) return false;
    for (let i = 0; i < key.length; i++) if (b[off + i] !== key.charCodeAt(i)) return false;
    return off + key.length === b.length || b[off + key.length] === 0;
  }

  /**
   * Own type indexes whose name offset is one of the string-table `positions` (and, apart, one of
   * `also`), each list ascending. A few positions: a native scan of the name offsets for each; more:
   * one pass over them, with a byte map of the table marking the positions.
   */
  #typesAt(positions: readonly number[], also: readonly number[] = []): [number[], number[]] {
    const out: [number[], number[]] = [[], []];
    if (positions.length === 0 && also.length === 0) return out;
    const names = this.#nameOffs;
    if (positions.length + also.length <= NATIVE_SCANS_UPTO) {
      for (const at of positions) for (let i = names.indexOf(at); i >= 0; i = names.indexOf(at, i + 1)) out[0].push(i);
      for (const at of also) for (let i = names.indexOf(at); i >= 0; i = names.indexOf(at, i + 1)) out[1].push(i);
      if (positions.length > 1) out[0].sort((x, y) => x - y);
      if (also.length > 1) out[1].sort((x, y) => x - y);
      return out;
    }
    if (sharedMarks.length < this.#strBuf.length + 1) sharedMarks = new Uint8Array(this.#strBuf.length + 1);
    const marks = sharedMarks;
    for (const at of positions) marks[at] = 1;
    for (const at of also) marks[at] = (marks[at] as number) | 2;
    for (let i = 0; i < names.length; i++) {
      const m = marks[names[i] as number] as number;
      if (m === 0) continue;
      if (m & 1) out[0].push(i);
      if (m & 2) out[1].push(i);
    }
    for (const at of positions) marks[at] = 0;
    for (const at of also) marks[at] = 0;
    return out;
  }

  /** The hash index of every own named type, built once many different names were looked up. */
  #hashIndex(): Int32Array {
    if (this.#slots) return this.#slots;
    const names = this.#nameOffs;
    const b = this.#strBuf;
    let size = 16;
    while (size < names.length * 2) size *= 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let i = 0; i < names.length; i++) {
      const off = names[i] as number;
      if (off === 0 || off >= b.length || b[off] === 0) continue;
      let h = 0x811c9dc5;
      for (let j = off; j < b.length; j++) {
        const c = b[j] as number;
        if (c === 0) break;
        h = Math.imul(h ^ c, 0x01000193);
      }
      let at = (h >>> 0) & mask;
      while (slots[at] !== 0) at = (at + 1) & mask;
      slots[at] = i + 1;
    }
    this.#slots = slots;
    return slots;
  }

  /** Every place `key` (latin1) occurs in the string table: one native search. */
  #occurrences(key: string): number[] {
    const b = this.#strBuf;
    const needle = Buffer.from(key, 'latin1');
    const positions: number[] = [];
    for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) positions.push(at);
    return positions;
  }

  /** Every place `key` ends a string in the table (a name offset may point into a string: a shared tail). */
  #endsOf(key: string): number[] {
    const b = this.#strBuf;
    return this.#occurrences(key).filter((at) => at + key.length === b.length || b[at + key.length] === 0);
  }

  /**
   * Ids of the own types whose name is `key` (latin1), lowest first. The first `FULL_INDEX_AFTER`
   * different names are found by searching the string table for `key\0` (native string search,
   * about what libbpf's linear candidate search costs) and one pass over the name offsets; after
   * that every name is hashed into an index once and lookups cost nothing more.
   */
  #lookup(key: string): readonly number[] {
    const cached = this.#byName.get(key);
    if (cached) return cached;
    const ids: number[] = [];
    if (this.#slots || this.#byName.size >= FULL_INDEX_AFTER) {
      const slots = this.#hashIndex();
      const names = this.#nameOffs;
      const mask = slots.length - 1;
      let h = 0x811c9dc5;
      for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
      for (let at = (h >>> 0) & mask; slots[at] !== 0; at = (at + 1) & mask) {
        const i = (slots[at] as number) - 1;
        if (this.#nameIs(names[i] as number, key)) ids.push(this.firstId + i);
      }
      ids.sort((x, y) => x - y);
    } else {
      for (const i of this.#typesAt(this.#endsOf(key))[0]) ids.push(this.firstId + i);
    }
    this.#byName.set(key, ids);
    return ids;
  }

  /** A name as the index spells it (latin1 bytes of its UTF-8; the same string for ASCII). */
  #key(name: string): string {
    for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0x7f) return Buffer.from(name, 'utf8').toString('latin1');
    return name;
  }

  /** Ids of this object's own types named exactly `name` (any kind), lowest first; empty when none. */
  idsByName(name: string): readonly number[] {
    return name === '' ? [] : this.#lookup(this.#key(name));
  }

  /**
   * Ids of this object's own named types whose essential name (no `___flavor`) is `essential`,
   * lowest first: the types named `essential`, and those named `essential___flavor` found by
   * searching the string table for `essential___` (the exact name's search rides along in the same
   * pass over the name offsets when it is still to be done).
   */
  idsByEssentialName(essential: string): readonly number[] {
    if (essential === '') return [];
    const key = this.#key(essential);
    let flavored = this.#flavored.get(key);
    if (!flavored && this.#slots) {
      // Many names looked up: every flavored name is indexed once, as the exact names are.
      this.#indexFlavors();
      flavored = this.#flavored.get(key) ?? [];
    }
    if (!flavored) {
      // One search for `essential` finds both: the places it ends a string, and those it starts a flavored name.
      const b = this.#strBuf;
      const starts: number[] = [];
      const ends: number[] = [];
      const len = key.length;
      for (const at of this.#occurrences(key)) {
        const next = at + len;
        if (next === b.length || b[next] === 0) ends.push(at);
        else if (b[next] === 95 && b[next + 1] === 95 && b[next + 2] === 95) {
          const end = b.indexOf(0, next);
          if (essentialName(b.toString('latin1', at, end < 0 ? b.length : end)) === key) starts.push(at);
        }
      }
      const exact =
        essentialName(essential) === essential && !this.#slots && !this.#byName.has(key) && this.#byName.size < FULL_INDEX_AFTER;
      const [found, named] = this.#typesAt(starts, exact ? ends : []);
      if (exact)
        this.#byName.set(
          key,
          named.map((i) => this.firstId + i),
        );
      flavored = found;
      this.#flavored.set(key, flavored);
    }
    const exact = essentialName(essential) === essential ? this.idsByName(essential) : [];
    if (flavored.length === 0) return exact;
    return [...exact, ...flavored.map((i) => this.firstId + i)].sort((a, b) => a - b);
  }

  /**
   * Indexes every flavored name by its essential name in `#flavored` (complete from then on):
   * every place a name holding a `___` can start (from its string's start up to the underscores:
   * a name offset may point into a string), the types named there, grouped.
   */
  #indexFlavors(): void {
    if (this.#allFlavors) return;
    const b = this.#strBuf;
    const positions: number[] = [];
    const run = Buffer.from('___', 'latin1');
    for (let at = b.indexOf(run); at >= 0; ) {
      const start = at === 0 ? 0 : b.lastIndexOf(0, at - 1) + 1;
      let last = at;
      while (b[last + 3] === 95) last++; // a longer run: the names up to its last `___`
      for (let p = start; p <= last; p++) positions.push(p);
      const end = b.indexOf(0, at);
      if (end < 0) break;
      at = b.indexOf(run, end);
    }
    const groups = new Map<string, number[]>();
    for (const i of this.#typesAt(positions)[0]) {
      const off = this.#nameOffs[i] as number;
      const end = b.indexOf(0, off);
      const name = b.toString('latin1', off, end < 0 ? b.length : end);
      const e = essentialName(name);
      if (e === name) continue;
      const list = groups.get(e);
      if (list) list.push(i);
      else groups.set(e, [i]);
    }
    this.#flavored.clear();
    for (const [e, list] of groups) this.#flavored.set(e, list);
    this.#allFlavors = true;
  }

  /** The first of this object's types named `name` of kind `kind`, or `undefined`. */
  find(name: string, kind: BtfKind): KernelBtfType | undefined {
    for (const id of this.idsByName(name)) {
      const type = this.type(id);
      if (type?.kind === kind) return { btf: this, id, type };
    }
    return undefined;
  }

  /**
   * The kernel's id for this BTF object (what `bpftool btf list` shows, and what
   * `attach_btf_obj_fd`/`fd_array` refer to through its fd), or `undefined` for a user-provided BTF.
   * Found once by walking BPF_BTF_GET_NEXT_ID.
   * @throws {BpfError} when the kernel refuses to list BTF objects (EPERM without CAP_SYS_ADMIN).
   */
  get objectId(): number | undefined {
    if (!this.fromKernel) return undefined;
    if (this.#objectId === undefined) {
      const ids = kernelBtfObjectIds();
      this.#objectId = ids.get(this.name);
      if (this.#objectId === undefined)
        throw new BtfTargetError(`no kernel BTF object is named ${JSON.stringify(this.name)} (was the module unloaded?)`);
    }
    return this.#objectId;
  }

  /**
   * An fd of this kernel BTF object (BPF_BTF_GET_FD_BY_ID), for `attach_btf_obj_fd` or a kfunc's
   * `fd_array` slot. The fd belongs to this cache: do not close it; `releaseKernelBtf()` does.
   * @throws {BtfTargetError} for a user-provided BTF (it is not in the kernel).
   * @throws {BpfError} when the kernel refuses the fd.
   */
  fd(): number {
    if (this.#fd >= 0) return this.#fd;
    const id = this.objectId;
    if (id === undefined) throw new BtfTargetError(`${this.name} is a user-provided BTF, not a kernel BTF object: it has no fd`);
    const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
    if (fd < 0) throw new BpfError('BPF_BTF_GET_FD_BY_ID', -fd, { hint: `the kernel BTF object ${this.name} (id ${id})` });
    this.#fd = fd;
    return fd;
  }

  /** @internal Closes the fd `fd()` opened, if any. */
  closeFd(): void {
    if (this.#fd >= 0) closeFd(this.#fd);
    this.#fd = -1;
  }
}

/**
 * vmlinux's BTF read from its kernel BTF object (the first one, normally id 1) in one copy, with
 * that object's id; `undefined` when the first BTF object is not vmlinux or the kernel refuses
 * (no CAP_SYS_ADMIN, kernel before 5.11 without `kernel_btf`): then the sysfs file is read. The
 * sysfs file is copied a page per read(2) call, ~1350 calls for vmlinux's 5.5 MB.
 */
function vmlinuxFromObject(): { blob: Uint8Array; id: number } | undefined {
  const next = getNextId(Cmd.BPF_BTF_GET_NEXT_ID, 0);
  if (next.ret < 0) return undefined;
  const id = next.nextId;
  const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
  if (fd < 0) return undefined;
  try {
    const info = new Uint8Array(L.BtfInfoLayout.SIZE);
    const iv = new DataView(info.buffer);
    const nameBuf = new Uint8Array(8);
    iv.setUint32(L.BtfInfoLayout.nameLen, nameBuf.length, true);
    if (objGetInfoPointing(fd, info, L.BtfInfoLayout.name, nameBuf) < 0) return undefined;
    if (iv.getUint32(L.BtfInfoLayout.kernelBtf, true) === 0) return undefined;
    if (Buffer.from(nameBuf).toString('latin1') !== 'vmlinux\0') return undefined;
    const size = iv.getUint32(L.BtfInfoLayout.btfSize, true);
    // Not zero-filled: the kernel writes all `size` bytes, or fails (ENOSPC if it grew) and it is dropped.
    const blob = Buffer.allocUnsafeSlow(size);
    info.fill(0);
    iv.setUint32(L.BtfInfoLayout.btfSize, size, true);
    if (objGetInfoPointing(fd, info, L.BtfInfoLayout.btf, blob) < 0) return undefined;
    if (iv.getUint32(L.BtfInfoLayout.btfSize, true) !== size) return undefined;
    return { blob, id };
  } finally {
    closeFd(fd);
  }
}

/** Kernel BTF object names → ids (`vmlinux`, module names), walking BPF_BTF_GET_NEXT_ID. */
function kernelBtfObjectIds(): Map<string, number> {
  const out = new Map<string, number>();
  const info = new Uint8Array(L.BtfInfoLayout.SIZE);
  const iv = new DataView(info.buffer);
  const nameBuf = new Uint8Array(64);
  let id = 0;
  for (;;) {
    const next = getNextId(Cmd.BPF_BTF_GET_NEXT_ID, id);
    if (next.ret < 0) {
      if (-next.ret === ENOENT) return out;
      throw new BpfError('BPF_BTF_GET_NEXT_ID', -next.ret);
    }
    id = next.nextId;
    const fd = getFdById(Cmd.BPF_BTF_GET_FD_BY_ID, id);
    if (fd < 0) {
      if (-fd === ENOENT) continue; // unloaded meanwhile
      throw new BpfError('BPF_BTF_GET_FD_BY_ID', -fd);
    }
    try {
      info.fill(0);
      nameBuf.fill(0);
      iv.setUint32(L.BtfInfoLayout.nameLen, nameBuf.length, true);
      const r = objGetInfoPointing(fd, info, L.BtfInfoLayout.name, nameBuf);
      if (r < 0) throw new BpfError('BPF_OBJ_GET_INFO_BY_FD', -r);
      if (iv.getUint32(L.BtfInfoLayout.kernelBtf, true) === 0) continue;
      const end = nameBuf.indexOf(0);
      const name = Buffer.from(nameBuf.subarray(0, end < 0 ? nameBuf.length : end)).toString('utf8');
      if (!out.has(name)) out.set(name, id);
    } finally {
      closeFd(fd);
    }
  }
}

function locate(name: string, blob: Uint8Array, base: KernelBtf | undefined, fromKernel: boolean, objectId?: number): KernelBtf {
  try {
    return new KernelBtf(name, blob, base, fromKernel, objectId);
  } catch (e) {
    throw new BtfTargetError(`${name}: not readable BTF (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The BTF a program is relocated and resolved against: vmlinux plus, for the running kernel, its
 * modules (loaded lazily, only when vmlinux lacks what is looked for).
 */
export class TargetBtf {
  /** vmlinux's BTF, or the user-provided BTF standing in for it. */
  readonly vmlinux: KernelBtf;
  #modules: KernelBtf[] | undefined;
  /** Milliseconds spent reading vmlinux's BTF (locating its types; a measurement for benchmarks and reports). */
  readonly parseMs: number;

  private constructor(vmlinux: KernelBtf, parseMs: number, modules?: KernelBtf[]) {
    this.vmlinux = vmlinux;
    this.parseMs = parseMs;
    this.#modules = modules;
  }

  /** True when this is the running kernel's BTF (with modules), false for a user-provided one. */
  get fromKernel(): boolean {
    return this.vmlinux.fromKernel;
  }

  /**
   * The running kernel's BTF, parsed on the first call and cached for the process.
   * @throws {BtfTargetError} when the kernel exposes no BTF (built without CONFIG_DEBUG_INFO_BTF):
   *   pass a BTF file for it instead.
   */
  static kernel(): TargetBtf {
    if (cached) return cached;
    let blob: Uint8Array;
    const fromObject = existsSync(`${SYSFS_BTF}/vmlinux`) ? vmlinuxFromObject() : undefined;
    try {
      blob = fromObject?.blob ?? readFileSync(`${SYSFS_BTF}/vmlinux`);
    } catch (e) {
      throw new BtfTargetError(
        `this kernel has no BTF at ${SYSFS_BTF}/vmlinux (it needs CONFIG_DEBUG_INFO_BTF=y, Linux 5.4+): pass a BTF file for it (e.g. from btfhub) instead`,
        { cause: e },
      );
    }
    const t0 = performance.now();
    const vmlinux = locate('vmlinux', blob, undefined, true, fromObject?.id);
    cached = new TargetBtf(vmlinux, performance.now() - t0);
    return cached;
  }

  /**
   * A user-provided BTF blob standing in for vmlinux (no modules), for kernels without BTF.
   * @throws {BtfTargetError} when `blob` is not BTF.
   */
  static fromBytes(blob: Uint8Array, name = 'user BTF'): TargetBtf {
    if (!(blob instanceof Uint8Array)) throw new TypeError('TargetBtf.fromBytes takes a Uint8Array of raw BTF');
    const t0 = performance.now();
    return new TargetBtf(locate(name, blob, undefined, false), performance.now() - t0, []);
  }

  /**
   * A user-provided raw BTF file (e.g. `bpftool btf dump file vmlinux format raw`'s input, or a
   * btfhub `.btf` file) standing in for vmlinux.
   * @throws {BtfTargetError} when the file cannot be read or is not raw BTF.
   */
  static fromFile(path: string): TargetBtf {
    let blob: Uint8Array;
    try {
      blob = readFileSync(path);
    } catch (e) {
      throw new BtfTargetError(`cannot read the BTF file ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (blob[0] === 0x7f && blob[1] === 0x45 && blob[2] === 0x4c && blob[3] === 0x46)
      throw new BtfTargetError(
        `${path} is an ELF file: pass its raw .BTF section (e.g. \`objcopy -O binary --only-section=.BTF ${path} out.btf\`)`,
      );
    return TargetBtf.fromBytes(blob, path);
  }

  /** The kernel modules' BTF (read on the first call); empty for a user-provided BTF. */
  modules(): readonly KernelBtf[] {
    if (this.#modules) return this.#modules;
    const mods: KernelBtf[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(SYSFS_BTF).filter((n) => n !== 'vmlinux');
    } catch {
      names = [];
    }
    for (const name of names.sort()) {
      let blob: Uint8Array;
      try {
        blob = readFileSync(`${SYSFS_BTF}/${name}`);
      } catch {
        continue; // unloaded meanwhile
      }
      mods.push(locate(name, blob, this.vmlinux, true));
    }
    this.#modules = mods;
    return mods;
  }

  /** @internal The modules read so far, without reading them. */
  loadedModules(): readonly KernelBtf[] {
    return this.#modules ?? [];
  }

  /** The BTF of module `name`, or `undefined` when it is not loaded (or has no BTF). */
  module(name: string): KernelBtf | undefined {
    return this.modules().find((m) => m.name === name);
  }

  /**
   * The type named `name` of kind `kind` (a FUNC for kfuncs and `attachTo`, a VAR for `__ksym`
   * variables, a STRUCT…): vmlinux first, then each module. `undefined` when none has it.
   */
  find(name: string, kind: BtfKind): KernelBtfType | undefined {
    const v = this.vmlinux.find(name, kind);
    if (v) return v;
    for (const m of this.modules()) {
      const r = m.find(name, kind);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * CO-RE candidates for a local type's essential name: every named type of vmlinux with that
   * essential name, or — only when vmlinux has none and this is the running kernel — of the
   * modules. `accept` filters them (by kind) before that decision, as libbpf does.
   */
  candidates(essential: string, accept: (t: BtfType) => boolean = () => true): KernelBtfType[] {
    const out: KernelBtfType[] = [];
    const add = (btf: KernelBtf) => {
      for (const id of btf.idsByEssentialName(essential)) {
        const type = btf.type(id);
        if (type && accept(type)) out.push({ btf, id, type });
      }
    };
    add(this.vmlinux);
    if (out.length > 0 || !this.fromKernel) return out;
    for (const m of this.modules()) add(m);
    return out;
  }
}

let cached: TargetBtf | undefined;

/**
 * Drops the cached kernel BTF and closes the fds its `KernelBtf.fd()` opened; the next
 * `TargetBtf.kernel()` parses again (after a module was loaded, say).
 */
export function releaseKernelBtf(): void {
  if (!cached) return;
  cached.vmlinux.closeFd();
  for (const m of cached.loadedModules()) m.closeFd();
  cached = undefined;
}
