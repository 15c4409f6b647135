/**
 * A typed BPF instruction builder: `new Asm().mov64(R1, 0).call('ktime_get_ns').exit()`.
 *
 * Registers are the `R0`…`R10` objects, immediates plain numbers, so
 * `add64(R1, R2)` and `add64(R1, 2)` cannot be confused. Jumps take a label
 * (resolved by `build()`) or a raw instruction offset. Everything is checked
 * when written or at `build()`: register numbers, 16-bit offsets, 32-bit
 * immediates, unknown helpers and labels, jumps that leave the program.
 */
import { HELPERS } from '../sys/uapi.js';

/** A BPF register (`R0` … `R10`). */
export interface Reg {
  readonly reg: number;
}

const reg = (n: number): Reg => Object.freeze({ reg: n });
/** BPF register r0: return value and helper results. */
export const R0 = reg(0);
/** BPF register r1: first argument (the context on entry). */
export const R1 = reg(1);
/** BPF register r2: argument register. */
export const R2 = reg(2);
/** BPF register r3: argument register. */
export const R3 = reg(3);
/** BPF register r4: argument register. */
export const R4 = reg(4);
/** BPF register r5: argument register. */
export const R5 = reg(5);
/** BPF register r6: callee-saved register. */
export const R6 = reg(6);
/** BPF register r7: callee-saved register. */
export const R7 = reg(7);
/** BPF register r8: callee-saved register. */
export const R8 = reg(8);
/** BPF register r9: callee-saved register. */
export const R9 = reg(9);
/** The read-only frame pointer. */
export const R10 = reg(10);

/** Instruction classes, sizes, modes, operations (include/uapi/linux/bpf.h, bpf_common.h). */
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;
const BPF_K = 0x00;
const BPF_X = 0x08;
const BPF_IMM = 0x00;
const BPF_MEM = 0x60;
const BPF_ATOMIC = 0xc0;
const BPF_FETCH = 0x01;
/** `src_reg` of a 64-bit immediate load that holds a map fd / a map value address. */
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
/** `src_reg` of a call to a subprogram of this program, and of a 64-bit load of a subprogram's address. */
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_FUNC = 4;

/** Load/store widths. */
export type Size = 'u8' | 'u16' | 'u32' | 'u64';
const SIZE: Record<Size, number> = { u32: 0x00, u16: 0x08, u8: 0x10, u64: 0x18 };

const ALU_OPS = {
  add: 0x00,
  sub: 0x10,
  mul: 0x20,
  div: 0x30,
  or: 0x40,
  and: 0x50,
  lsh: 0x60,
  rsh: 0x70,
  mod: 0x90,
  xor: 0xa0,
  mov: 0xb0,
  arsh: 0xc0,
} as const;
/** ALU operation names (`add`, `sub`, …, `arsh`). */
export type AluOp = keyof typeof ALU_OPS;

const JMP_OPS = {
  jeq: 0x10,
  jgt: 0x20,
  jge: 0x30,
  jset: 0x40,
  jne: 0x50,
  jsgt: 0x60,
  jsge: 0x70,
  jlt: 0xa0,
  jle: 0xb0,
  jslt: 0xc0,
  jsle: 0xd0,
} as const;
/** Conditional jump names (`jeq`, `jgt`, …, `jsle`). */
export type JmpOp = keyof typeof JMP_OPS;

const ATOMIC_OPS = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0, xchg: 0xe0 | BPF_FETCH, cmpxchg: 0xf0 | BPF_FETCH } as const;
/** Atomic operation names (`add`, `or`, `and`, `xor`, `xchg`, `cmpxchg`). */
export type AtomicOp = keyof typeof ATOMIC_OPS;

/** A jump target: a label name, or a relative offset in instructions. */
export type Target = string | number;
/** Something with an fd: a `BpfMap`, or an fd number. Read at `build()` time. */
export type MapLike = { readonly fd: number } | number;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** A label to resolve into `off` (jumps). */
  target?: string;
  /** A map whose fd goes into `imm` at build time. */
  map?: MapLike;
  /** A label whose distance (in instructions, from the next one) goes into `imm`: bpf-to-bpf calls, callbacks. */
  immTarget?: string;
}

/** A program the builder cannot encode: the message names the instruction index. */
export class AsmError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'AsmError';
  }
}

function checkReg(r: unknown, what: string, at: number): number {
  if (typeof r !== 'object' || r === null || typeof (r as Reg).reg !== 'number')
    throw new AsmError(`insn ${at}: ${what} must be a register (R0…R10), got ${String(r)}`);
  const n = (r as Reg).reg;
  if (!Number.isInteger(n) || n < 0 || n > 10) throw new AsmError(`insn ${at}: ${what} register r${n} does not exist`);
  return n;
}

function checkImm(v: unknown, at: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v > 2 ** 32 - 1)
    throw new AsmError(`insn ${at}: immediate must be a 32-bit integer, got ${String(v)}`);
  return v | 0;
}

function checkOff(v: unknown, at: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -32768 || v > 32767)
    throw new AsmError(`insn ${at}: offset must be a 16-bit signed integer, got ${String(v)}`);
  return v;
}

const isReg = (v: unknown): v is Reg => typeof v === 'object' && v !== null && 'reg' in v;

/** A BPF instruction builder: chainable instruction methods, labels, map references and helper calls by name; `build()` resolves them. */
export class Asm {
  readonly #insns: Insn[] = [];
  readonly #labels = new Map<string, number>();

  /** Instructions so far (a 64-bit immediate load counts two). */
  get length(): number {
    return this.#insns.length;
  }

  #push(i: Insn): this {
    this.#insns.push(i);
    return this;
  }

  /** Marks the next instruction as `name`, a jump target. */
  label(name: string): this {
    if (typeof name !== 'string' || name === '') throw new AsmError('a label must be a non-empty string');
    if (this.#labels.has(name)) throw new AsmError(`label "${name}" is defined twice`);
    this.#labels.set(name, this.#insns.length);
    return this;
  }

  /** `dst op= src` on 64 bits (ALU64) or 32 bits (ALU, upper half zeroed). */
  alu(op: AluOp, bits: 32 | 64, dst: Reg, src: Reg | number): this {
    const at = this.#insns.length;
    const code = ALU_OPS[op];
    if (code === undefined) throw new AsmError(`insn ${at}: unknown ALU operation ${String(op)}`);
    const cls = bits === 64 ? BPF_ALU64 : BPF_ALU;
    const d = checkReg(dst, 'dst', at);
    if (isReg(src)) return this.#push({ code: cls | code | BPF_X, dst: d, src: checkReg(src, 'src', at), off: 0, imm: 0 });
    return this.#push({ code: cls | code | BPF_K, dst: d, src: 0, off: 0, imm: checkImm(src, at) });
  }

  /** `dst = src` on 64 bits: `alu('mov', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  mov64(dst: Reg, src: Reg | number): this {
    return this.alu('mov', 64, dst, src);
  }
  /** `dst = src` on 32 bits (upper 32 bits of `dst` zeroed): `alu('mov', 32, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  mov32(dst: Reg, src: Reg | number): this {
    return this.alu('mov', 32, dst, src);
  }
  /** `dst += src` on 64 bits: `alu('add', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  add64(dst: Reg, src: Reg | number): this {
    return this.alu('add', 64, dst, src);
  }
  /** `dst += src` on 32 bits (upper 32 bits of `dst` zeroed): `alu('add', 32, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  add32(dst: Reg, src: Reg | number): this {
    return this.alu('add', 32, dst, src);
  }
  /** `dst -= src` on 64 bits: `alu('sub', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  sub64(dst: Reg, src: Reg | number): this {
    return this.alu('sub', 64, dst, src);
  }
  /** `dst *= src` on 64 bits: `alu('mul', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  mul64(dst: Reg, src: Reg | number): this {
    return this.alu('mul', 64, dst, src);
  }
  /** `dst &= src` on 64 bits: `alu('and', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  and64(dst: Reg, src: Reg | number): this {
    return this.alu('and', 64, dst, src);
  }
  /** `dst |= src` on 64 bits: `alu('or', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  or64(dst: Reg, src: Reg | number): this {
    return this.alu('or', 64, dst, src);
  }
  /** `dst ^= src` on 64 bits: `alu('xor', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  xor64(dst: Reg, src: Reg | number): this {
    return this.alu('xor', 64, dst, src);
  }
  /** `dst <<= src` on 64 bits: `alu('lsh', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  lsh64(dst: Reg, src: Reg | number): this {
    return this.alu('lsh', 64, dst, src);
  }
  /** `dst >>= src (logical)` on 64 bits: `alu('rsh', 64, dst, src)`. @throws {AsmError} for a bad register or an immediate outside int32. */
  rsh64(dst: Reg, src: Reg | number): this {
    return this.alu('rsh', 64, dst, src);
  }

  /** `dst = -dst`. */
  neg(bits: 32 | 64, dst: Reg): this {
    const at = this.#insns.length;
    return this.#push({
      code: (bits === 64 ? BPF_ALU64 : BPF_ALU) | 0x80,
      dst: checkReg(dst, 'dst', at),
      src: 0,
      off: 0,
      imm: 0,
    });
  }

  /** Byte swap to little (`le`) or big (`be`) endian, on the low `width` bits. */
  endian(order: 'le' | 'be', dst: Reg, width: 16 | 32 | 64): this {
    const at = this.#insns.length;
    if (width !== 16 && width !== 32 && width !== 64) throw new AsmError(`insn ${at}: endian width must be 16, 32 or 64`);
    const code = BPF_ALU | 0xd0 | (order === 'be' ? BPF_X : BPF_K);
    return this.#push({ code, dst: checkReg(dst, 'dst', at), src: 0, off: 0, imm: width });
  }

  /** `dst = imm64` (two instruction slots). */
  ld64(dst: Reg, value: number | bigint): this {
    const at = this.#insns.length;
    const v = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : undefined;
    if (v === undefined || v < -(2n ** 63n) || v >= 2n ** 64n)
      throw new AsmError(`insn ${at}: ld64 takes a 64-bit integer, got ${String(value)}`);
    const u = BigInt.asUintN(64, v);
    const d = checkReg(dst, 'dst', at);
    this.#push({ code: BPF_LD | SIZE.u64 | BPF_IMM, dst: d, src: 0, off: 0, imm: Number(u & 0xffff_ffffn) | 0 });
    return this.#push({ code: 0, dst: 0, src: 0, off: 0, imm: Number(u >> 32n) | 0 });
  }

  /** `dst = map` (a map fd the verifier turns into a map pointer). */
  ldMapFd(dst: Reg, map: MapLike): this {
    const at = this.#insns.length;
    const d = checkReg(dst, 'dst', at);
    this.#push({ code: BPF_LD | SIZE.u64 | BPF_IMM, dst: d, src: BPF_PSEUDO_MAP_FD, off: 0, imm: 0, map });
    return this.#push({ code: 0, dst: 0, src: 0, off: 0, imm: 0 });
  }

  /** `dst = &value + offset`: direct access to the value of a one-element array map (`max_entries` 1). @kernel 5.2 (BPF_PSEUDO_MAP_VALUE) */
  ldMapValue(dst: Reg, map: MapLike, offset = 0): this {
    const at = this.#insns.length;
    const d = checkReg(dst, 'dst', at);
    this.#push({ code: BPF_LD | SIZE.u64 | BPF_IMM, dst: d, src: BPF_PSEUDO_MAP_VALUE, off: 0, imm: 0, map });
    return this.#push({ code: 0, dst: 0, src: 0, off: 0, imm: checkImm(offset, at) });
  }

  /** `dst = *(size *)(src + off)`. */
  ldx(size: Size, dst: Reg, src: Reg, off: number): this {
    const at = this.#insns.length;
    const s = SIZE[size];
    if (s === undefined) throw new AsmError(`insn ${at}: size must be u8, u16, u32 or u64, got ${String(size)}`);
    return this.#push({
      code: BPF_LDX | s | BPF_MEM,
      dst: checkReg(dst, 'dst', at),
      src: checkReg(src, 'src', at),
      off: checkOff(off, at),
      imm: 0,
    });
  }

  /** `*(size *)(dst + off) = src` (a register) or `= imm`. */
  st(size: Size, dst: Reg, off: number, src: Reg | number): this {
    const at = this.#insns.length;
    const s = SIZE[size];
    if (s === undefined) throw new AsmError(`insn ${at}: size must be u8, u16, u32 or u64, got ${String(size)}`);
    const d = checkReg(dst, 'dst', at);
    const o = checkOff(off, at);
    if (isReg(src)) return this.#push({ code: BPF_STX | s | BPF_MEM, dst: d, src: checkReg(src, 'src', at), off: o, imm: 0 });
    return this.#push({ code: BPF_ST | s | BPF_MEM, dst: d, src: 0, off: o, imm: checkImm(src, at) });
  }

  /** Atomic `*(size *)(dst + off) op= src`; `fetch` puts the old value in src (xchg/cmpxchg always fetch; cmpxchg compares R0). @kernel 5.12 (add without fetch: 3.18) */
  atomic(op: AtomicOp, size: 'u32' | 'u64', dst: Reg, off: number, src: Reg, opts: { fetch?: boolean } = {}): this {
    const at = this.#insns.length;
    const code = ATOMIC_OPS[op];
    if (code === undefined) throw new AsmError(`insn ${at}: unknown atomic operation ${String(op)}`);
    if (size !== 'u32' && size !== 'u64') throw new AsmError(`insn ${at}: atomic operations are u32 or u64, got ${String(size)}`);
    return this.#push({
      code: BPF_STX | SIZE[size] | BPF_ATOMIC,
      dst: checkReg(dst, 'dst', at),
      src: checkReg(src, 'src', at),
      off: checkOff(off, at),
      imm: code | (opts.fetch ? BPF_FETCH : 0),
    });
  }

  /** Conditional jump `if (dst op src) goto target`, comparing 64 bits (or 32 with `bits: 32`). @kernel 3.18 (jlt/jle/jslt/jsle 4.14; `bits: 32` 5.1) */
  jmp(op: JmpOp, dst: Reg, src: Reg | number, target: Target, bits: 32 | 64 = 64): this {
    const at = this.#insns.length;
    const code = JMP_OPS[op];
    if (code === undefined) throw new AsmError(`insn ${at}: unknown jump ${String(op)}`);
    const cls = bits === 64 ? BPF_JMP : BPF_JMP32;
    const d = checkReg(dst, 'dst', at);
    const i: Insn = isReg(src)
      ? { code: cls | code | BPF_X, dst: d, src: checkReg(src, 'src', at), off: 0, imm: 0 }
      : { code: cls | code | BPF_K, dst: d, src: 0, off: 0, imm: checkImm(src, at) };
    return this.#push(this.#target(i, target, at));
  }

  /** `if (dst == src) goto target` on 64 bits: `jmp('jeq', dst, src, target)`. @throws {AsmError} for a bad register or immediate (an unknown label fails at `build()`). */
  jeq(dst: Reg, src: Reg | number, target: Target): this {
    return this.jmp('jeq', dst, src, target);
  }
  /** `if (dst != src) goto target` on 64 bits: `jmp('jne', dst, src, target)`. @throws {AsmError} for a bad register or immediate (an unknown label fails at `build()`). */
  jne(dst: Reg, src: Reg | number, target: Target): this {
    return this.jmp('jne', dst, src, target);
  }
  /** `if (dst > (unsigned) src) goto target` on 64 bits: `jmp('jgt', dst, src, target)`. @throws {AsmError} for a bad register or immediate (an unknown label fails at `build()`). */
  jgt(dst: Reg, src: Reg | number, target: Target): this {
    return this.jmp('jgt', dst, src, target);
  }
  /** `if (dst >= (unsigned) src) goto target` on 64 bits: `jmp('jge', dst, src, target)`. @throws {AsmError} for a bad register or immediate (an unknown label fails at `build()`). */
  jge(dst: Reg, src: Reg | number, target: Target): this {
    return this.jmp('jge', dst, src, target);
  }
  /** `if (dst < (unsigned) src) goto target` on 64 bits: `jmp('jlt', dst, src, target)`. @throws {AsmError} for a bad register or immediate (an unknown label fails at `build()`). @kernel 4.14 */
  jlt(dst: Reg, src: Reg | number, target: Target): this {
    return this.jmp('jlt', dst, src, target);
  }

  /** Unconditional jump. */
  ja(target: Target): this {
    return this.#push(this.#target({ code: BPF_JMP, dst: 0, src: 0, off: 0, imm: 0 }, target, this.#insns.length));
  }

  #target(i: Insn, target: Target, at: number): Insn {
    if (typeof target === 'string') i.target = target;
    else i.off = checkOff(target, at);
    return i;
  }

  /** Calls a helper by name (`'map_lookup_elem'`, as in `bpf_map_lookup_elem` without `bpf_`) or number. */
  call(helper: string | number): this {
    const at = this.#insns.length;
    let id: number;
    if (typeof helper === 'number') {
      if (!Number.isInteger(helper) || helper <= 0) throw new AsmError(`insn ${at}: helper id must be a positive integer`);
      id = helper;
    } else {
      const name = String(helper).replace(/^bpf_/, '');
      const known = HELPERS[name];
      if (known === undefined) {
        const near = Object.keys(HELPERS)
          .filter((h) => h.includes(name) || name.includes(h))
          .slice(0, 5);
        throw new AsmError(`insn ${at}: unknown helper "${helper}"${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`);
      }
      id = known;
    }
    return this.#push({ code: BPF_JMP | 0x80, dst: 0, src: 0, off: 0, imm: id });
  }

  /**
   * Calls a subprogram of this program (bpf-to-bpf call) that starts at `label`. Arguments in R1–R5,
   * the result in R0; R6–R9 are preserved. The subprogram ends with `exit()`.
   * @kernel 4.16 (bpf-to-bpf calls)
   */
  callLocal(label: string): this {
    if (typeof label !== 'string' || label === '') throw new AsmError(`insn ${this.#insns.length}: callLocal takes a label`);
    return this.#push({ code: BPF_JMP | 0x80, dst: 0, src: BPF_PSEUDO_CALL, off: 0, imm: 0, immTarget: label });
  }

  /** `dst = &subprogram at label`: a callback for helpers such as `loop` and `user_ringbuf_drain` (two slots). @kernel 5.13 (BPF_PSEUDO_FUNC) */
  ldFunc(dst: Reg, label: string): this {
    const at = this.#insns.length;
    const d = checkReg(dst, 'dst', at);
    if (typeof label !== 'string' || label === '') throw new AsmError(`insn ${at}: ldFunc takes a label`);
    this.#push({ code: BPF_LD | SIZE.u64 | BPF_IMM, dst: d, src: BPF_PSEUDO_FUNC, off: 0, imm: 0, immTarget: label });
    return this.#push({ code: 0, dst: 0, src: 0, off: 0, imm: 0 });
  }

  /** `exit`: returns R0 to the kernel. */
  exit(): this {
    return this.#push({ code: BPF_JMP | 0x90, dst: 0, src: 0, off: 0, imm: 0 });
  }

  /**
   * Where each function of the program starts: the main program at 0, then every label
   * that `callLocal` or `ldFunc` refers to (the kernel wants BTF for each when callbacks are used).
   */
  functions(): { name: string; insnOff: number }[] {
    const starts = new Map<number, string>([[0, 'main']]);
    for (const i of this.#insns) {
      if (i.immTarget === undefined) continue;
      const at = this.#labels.get(i.immTarget);
      if (at !== undefined && !starts.has(at)) starts.set(at, i.immTarget);
    }
    return [...starts].sort((a, b) => a[0] - b[0]).map(([insnOff, name]) => ({ name, insnOff }));
  }

  /** Encodes the program (8 bytes per instruction), resolving labels and map fds. */
  build(): Uint8Array {
    const n = this.#insns.length;
    if (n === 0) throw new AsmError('the program is empty');
    const out = new Uint8Array(n * 8);
    const v = new DataView(out.buffer);
    this.#insns.forEach((i, at) => {
      let off = i.off;
      if (i.target !== undefined) {
        const dest = this.#labels.get(i.target);
        if (dest === undefined) throw new AsmError(`insn ${at}: jump to undefined label "${i.target}"`);
        off = dest - at - 1;
        if (off < -32768 || off > 32767) throw new AsmError(`insn ${at}: jump to "${i.target}" is out of range (${off})`);
      }
      const isJump = (i.code & 0x07) === BPF_JMP || (i.code & 0x07) === BPF_JMP32;
      const op = i.code & 0xf0;
      if (isJump && op !== 0x80 && op !== 0x90) {
        const dest = at + 1 + off;
        if (dest < 0 || dest >= n) throw new AsmError(`insn ${at}: jump lands at ${dest}, outside the program (0…${n - 1})`);
      }
      let imm = i.imm;
      if (i.immTarget !== undefined) {
        const dest = this.#labels.get(i.immTarget);
        if (dest === undefined) throw new AsmError(`insn ${at}: call to undefined label "${i.immTarget}"`);
        imm = dest - at - 1;
      }
      if (i.map !== undefined) {
        const fd = typeof i.map === 'number' ? i.map : i.map.fd;
        if (!Number.isInteger(fd) || fd < 0) throw new AsmError(`insn ${at}: the map is closed (fd ${fd})`);
        imm = fd;
      }
      v.setUint8(at * 8, i.code);
      v.setUint8(at * 8 + 1, ((i.src & 0xf) << 4) | (i.dst & 0xf));
      v.setInt16(at * 8 + 2, off, true);
      v.setInt32(at * 8 + 4, imm, true);
    });
    return out;
  }
}
