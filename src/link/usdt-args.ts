/**
 * USDT argument strings (`-4@%eax 8@-16(%rbp) 4@$5` on x86-64, `-4@x0
 * 8@[sp, 16] 4@5` on arm64) turned into the `struct __bpf_usdt_spec` bytes
 * that libbpf's usdt.bpf.h (1.1) reads from its `__bpf_usdt_specs` map:
 *
 *   struct __bpf_usdt_arg_spec { u64 val_off; enum arg_type (u32); short reg_off; bool arg_signed; char arg_bitshift; }  16 bytes
 *   struct __bpf_usdt_spec { struct __bpf_usdt_arg_spec args[12]; u64 usdt_cookie; short arg_cnt; }               208 bytes
 */

/** `enum __bpf_usdt_arg_type`. */
export const UsdtArgType = { Const: 0, Reg: 1, RegDeref: 2 } as const;

export const USDT_MAX_ARGS = 12;
const ARG_SIZE = 16;
/** sizeof(struct __bpf_usdt_spec). */
export const USDT_SPEC_SIZE = 208;

/** One argument, as usdt.bpf.h reads it. */
export interface UsdtArg {
  type: number;
  valOff: bigint;
  regOff: number;
  signed: boolean;
  bitshift: number;
}

/** x86-64 `struct pt_regs` offsets, by every name of each register (64/32/16/8-bit). */
const X86_REGS: Readonly<Record<string, number>> = (() => {
  const r: Record<string, number> = Object.create(null);
  const add = (off: number, ...names: string[]) => {
    for (const n of names) r[n] = off;
  };
  add(0, 'r15', 'r15d', 'r15w', 'r15b');
  add(8, 'r14', 'r14d', 'r14w', 'r14b');
  add(16, 'r13', 'r13d', 'r13w', 'r13b');
  add(24, 'r12', 'r12d', 'r12w', 'r12b');
  add(32, 'rbp', 'ebp', 'bp', 'bpl');
  add(40, 'rbx', 'ebx', 'bx', 'bl');
  add(48, 'r11', 'r11d', 'r11w', 'r11b');
  add(56, 'r10', 'r10d', 'r10w', 'r10b');
  add(64, 'r9', 'r9d', 'r9w', 'r9b');
  add(72, 'r8', 'r8d', 'r8w', 'r8b');
  add(80, 'rax', 'eax', 'ax', 'al');
  add(88, 'rcx', 'ecx', 'cx', 'cl');
  add(96, 'rdx', 'edx', 'dx', 'dl');
  add(104, 'rsi', 'esi', 'si', 'sil');
  add(112, 'rdi', 'edi', 'di', 'dil');
  add(128, 'rip', 'eip');
  add(152, 'rsp', 'esp', 'sp', 'spl');
  return r;
})();

/** arm64 `struct user_pt_regs` offsets: x0..x30 (and w0..w30), sp. */
function arm64Reg(name: string): number | undefined {
  if (name === 'sp') return 248;
  const m = /^[xw](\d+)$/.exec(name);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n <= 30 ? n * 8 : undefined;
}

const EM_X86_64 = 62;
const EM_AARCH64 = 183;

function int(s: string): bigint | undefined {
  if (!/^[-+]?(0x[0-9a-f]+|\d+)$/i.test(s)) return undefined;
  const neg = s.startsWith('-');
  const v = BigInt(s.replace(/^[-+]/, ''));
  return BigInt.asUintN(64, neg ? -v : v);
}

/**
 * Parses argument string `args` of machine `machine` (e_machine).
 * @throws {Error} naming the argument for a form usdt.bpf.h 1.1 cannot express, or an unknown register or architecture.
 */
export function parseUsdtArgs(args: string, machine: number): UsdtArg[] {
  if (machine !== EM_X86_64 && machine !== EM_AARCH64)
    throw new Error(`USDT arguments of ELF machine ${machine} are not supported (only x86-64 and arm64)`);
  const parts = args.trim() === '' ? [] : args.trim().split(/\s+(?![^[]*\])/); // arm64 "[sp, 16]" holds a space
  if (parts.length > USDT_MAX_ARGS) throw new Error(`${parts.length} arguments; usdt.bpf.h takes at most ${USDT_MAX_ARGS}`);
  return parts.map((a, i) => {
    const fail = (why: string) => new Error(`argument ${i} "${a}": ${why}`);
    const m = /^(-?)(1|2|4|8)@(.+)$/.exec(a);
    if (!m) throw fail('not SIZE@OPERAND with SIZE one of 1, 2, 4, 8 (negative: signed)');
    const size = Number(m[2]);
    const op = m[3] as string;
    const base = { signed: m[1] === '-', bitshift: 64 - size * 8 };
    if (machine === EM_X86_64) {
      if (op.startsWith('$')) {
        const v = int(op.slice(1));
        if (v === undefined) throw fail('a constant that is not a number');
        return { ...base, type: UsdtArgType.Const, valOff: v, regOff: 0 };
      }
      if (op.startsWith('%')) {
        const reg = X86_REGS[op.slice(1)];
        if (reg === undefined) throw fail(`unknown register ${op}`);
        return { ...base, type: UsdtArgType.Reg, valOff: 0n, regOff: reg };
      }
      const d = /^([^(]*)\(%([a-z0-9]+)\)$/.exec(op);
      if (!d) {
        if (/\(.*,.*\)/.test(op))
          throw fail('indexed addressing (off(%base,%index,scale)) cannot be expressed in usdt.bpf.h 1.1 arg specs');
        throw fail('an operand form usdt.bpf.h 1.1 cannot express');
      }
      const off = d[1] === '' ? 0n : int(d[1] as string);
      if (off === undefined)
        throw fail(`offset "${d[1]}" is not a number (symbolic, e.g. rip-relative, operands are not supported)`);
      if (d[2] === 'rip') throw fail('rip-relative operands are not supported');
      const reg = X86_REGS[d[2] as string];
      if (reg === undefined) throw fail(`unknown register %${d[2]}`);
      return { ...base, type: UsdtArgType.RegDeref, valOff: off, regOff: reg };
    }
    // arm64: "x0", "[x1]", "[x1, 16]", "[sp, -8]", "5"
    const c = int(op);
    if (c !== undefined) return { ...base, type: UsdtArgType.Const, valOff: c, regOff: 0 };
    const mem = /^\[\s*([a-z0-9]+)\s*(?:,\s*([-+]?(?:0x[0-9a-f]+|\d+))\s*)?\]$/i.exec(op);
    if (mem) {
      const reg = arm64Reg(mem[1] as string);
      if (reg === undefined) throw fail(`unknown register ${mem[1]}`);
      return { ...base, type: UsdtArgType.RegDeref, valOff: mem[2] ? (int(mem[2]) as bigint) : 0n, regOff: reg };
    }
    const reg = arm64Reg(op);
    if (reg === undefined) throw fail('an operand form usdt.bpf.h 1.1 cannot express');
    return { ...base, type: UsdtArgType.Reg, valOff: 0n, regOff: reg };
  });
}

/** The `struct __bpf_usdt_spec` bytes of `args` and the user cookie. */
export function encodeUsdtSpec(args: readonly UsdtArg[], cookie: bigint): Uint8Array {
  const out = new Uint8Array(USDT_SPEC_SIZE);
  const v = new DataView(out.buffer);
  args.forEach((a, i) => {
    const o = i * ARG_SIZE;
    v.setBigUint64(o, a.valOff, true);
    v.setUint32(o + 8, a.type, true);
    v.setInt16(o + 12, a.regOff, true);
    v.setUint8(o + 14, a.signed ? 1 : 0);
    v.setInt8(o + 15, a.bitshift);
  });
  v.setBigUint64(USDT_MAX_ARGS * ARG_SIZE, BigInt.asUintN(64, cookie), true);
  v.setInt16(USDT_MAX_ARGS * ARG_SIZE + 8, args.length, true);
  return out;
}
