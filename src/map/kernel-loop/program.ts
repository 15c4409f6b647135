/**
 * The programs of a kernel loop, built per map with `Asm` and loaded as sleepable
 * BPF_PROG_TYPE_SYSCALL programs (run by BPF_PROG_TEST_RUN, one syscall per chunk):
 * - `lookupProgram`: `bpf_loop(n)` over the scratch's keys; each step looks key i up in the target
 *   map (`bpf_map_lookup_elem`, or `bpf_map_lookup_percpu_elem` once per possible CPU) and copies
 *   the value into slot i, or zeroes it, and sets found[i].
 * - `walkProgram`: `bpf_for_each_map_elem` over the target, appending each key and value to the
 *   scratch until it is full (non-per-CPU maps).
 * - `writeProgram`: `bpf_loop(n)` updating (or deleting) key i, stopping at the first error.
 * The scratch is reached through a direct map-value pointer (BPF_PSEUDO_MAP_VALUE), never through the
 * context: the verifier refuses variable-offset context access, and `bpf_loop` wants a stack pointer.
 */
import { BtfBuilder } from '../../btf/build.js';
import { Btf } from '../../btf/load.js';
import { errnoName, errnoNumber } from '../../errors.js';
import { Asm, R0, R1, R2, R3, R4, R6, R7, R8, R9, R10, type Reg } from '../../insn/asm.js';
import { progLoad } from '../../sys/bpf.js';
import { BPF_F_SLEEPABLE, ProgType } from '../../sys/uapi.js';
import { own, release } from '../../sys/fd.js';
import { KEYS, type Scratch, type ScratchLayout, releaseScratch } from './scratch.js';

/** The largest offset a load or store instruction takes (16-bit signed). */
export const MAX_INSN_OFF = 0x7fff;

/** Copies `size` bytes from `[src]` to `[dst]` in the widest pieces, through `tmp`. */
function copy(a: Asm, dst: Reg, src: Reg, size: number, tmp: Reg): void {
  let off = 0;
  for (const [w, n] of [
    ['u64', 8],
    ['u32', 4],
    ['u16', 2],
    ['u8', 1],
  ] as const) {
    while (size - off >= n) {
      a.ldx(w, tmp, src, off).st(w, dst, off, tmp);
      off += n;
    }
  }
}

/** Zeroes `size` bytes at `[dst + from]`. */
function zero(a: Asm, dst: Reg, from: number, size: number): void {
  let off = from;
  for (const [w, n] of [
    ['u64', 8],
    ['u32', 4],
    ['u16', 2],
    ['u8', 1],
  ] as const) {
    while (from + size - off >= n) {
      a.st(w, dst, off, 0);
      off += n;
    }
  }
}

/** `dst = R7 (the scratch) + base + R6 (the index) × stride`. */
function slot(a: Asm, dst: Reg, stride: number, base: number): void {
  a.mov64(dst, R6).mul64(dst, stride).add64(dst, R7).add64(dst, base);
}

/** The shape of the values a loop copies. */
export interface LoopValues {
  /** Bytes of one CPU's value (valueSize). */
  readonly size: number;
  /** Possible CPUs, for per-CPU maps (0: one value per key). */
  readonly cpus: number;
}

/**
 * The main function of the bpf_loop programs: zeroes the result word at byte `resultOff` of the
 * scratch's header, then `bpf_loop(header word 0, step, &slot, 0)` (bpf_loop wants a stack pointer
 * for its context; the steps reach the scratch by its map-value address) and returns 0. The caller
 * adds the `step` label.
 */
function loopOverScratch(scratchFd: number, resultOff: number): Asm {
  return new Asm()
    .ldMapValue(R6, scratchFd, 0)
    .st('u32', R6, resultOff, 0)
    .ldx('u32', R1, R6, 0)
    .ldFunc(R2, 'step')
    .st('u64', R10, -8, 0)
    .mov64(R3, R10)
    .add64(R3, -8)
    .mov64(R4, 0)
    .call('loop')
    .mov64(R0, 0)
    .exit();
}

/** The lookup loop: found[i], count and value slot i for each of the first n keys. */
export function lookupProgram(targetFd: number, scratchFd: number, l: ScratchLayout, v: LoopValues): Asm {
  const a = loopOverScratch(scratchFd, 4);
  // step(i): R6 = i, R7 = the scratch, R8 = &found[i], R9 = &values[i].
  a.label('step').mov64(R6, R1).jge(R6, l.cap, 'stop').ldMapValue(R7, scratchFd, 0);
  a.mov64(R8, R7).add64(R8, R6).add64(R8, l.found);
  slot(a, R9, l.valueSize, l.values);
  const key = (): void => slot(a, R2, l.keySize, KEYS);
  if (v.cpus === 0) {
    key();
    a.ldMapFd(R1, targetFd).call('map_lookup_elem').jeq(R0, 0, 'miss');
    copy(a, R9, R0, v.size, R1);
  } else {
    const stride = (v.size + 7) & ~7;
    for (let c = 0; c < v.cpus; c++) {
      key();
      a.ldMapFd(R1, targetFd).mov64(R3, c).call('map_lookup_percpu_elem').jeq(R0, 0, 'miss');
      copy(a, R9, R0, v.size, R1);
      zero(a, R9, v.size, stride - v.size);
      if (c < v.cpus - 1) a.add64(R9, stride);
    }
  }
  a.st('u8', R8, 0, 1).ldx('u32', R1, R7, 4).add64(R1, 1).st('u32', R7, 4, R1).mov64(R0, 0).exit();
  // Absent (or gone between two CPUs' lookups): found 0, the slot zeroed.
  a.label('miss').st('u8', R8, 0, 0);
  slot(a, R9, l.valueSize, l.values);
  zero(a, R9, 0, l.valueSize);
  a.mov64(R0, 0).exit();
  a.label('stop').mov64(R0, 1).exit();
  return a;
}

/**
 * The walk: every element of the target appended as (key, value) at n; when the scratch is full,
 * count (the second header word) is set to 1 and the walk stops.
 */
export function walkProgram(targetFd: number, scratchFd: number, l: ScratchLayout): Asm {
  const a = new Asm();
  a.ldMapValue(R6, scratchFd, 0)
    .st('u32', R6, 0, 0)
    .st('u32', R6, 4, 0)
    .ldMapFd(R1, targetFd)
    .ldFunc(R2, 'visit')
    .st('u64', R10, -8, 0)
    .mov64(R3, R10)
    .add64(R3, -8)
    .mov64(R4, 0)
    .call('for_each_map_elem')
    .mov64(R0, 0)
    .exit();
  // visit(map, key, value, ctx): R8 = key, R9 = value, R7 = the scratch, R6 = n.
  a.label('visit').mov64(R8, R2).mov64(R9, R3).ldMapValue(R7, scratchFd, 0).ldx('u32', R6, R7, 0).jge(R6, l.cap, 'full');
  slot(a, R1, l.keySize, KEYS);
  copy(a, R1, R8, l.keySize, R2);
  slot(a, R1, l.valueSize, l.values);
  copy(a, R1, R9, l.valueSize, R2);
  a.add64(R6, 1).st('u32', R7, 0, R6).mov64(R0, 0).exit();
  a.label('full').st('u32', R7, 4, 1).mov64(R0, 1).exit();
  return a;
}

const LICENSE = new TextEncoder().encode('GPL\0');

/**
 * Loads a loop program: its fd, or a string saying why not (the errno name of the refusal, and
 * the verifier's last lines when `withLog`).
 */
export function loadLoop(asm: Asm, withLog: boolean): number | string {
  const insns = asm.build();
  const funcs = asm.functions();
  // Callbacks need a BTF FUNC for every subprogram, listed in func_info.
  const b = new BtfBuilder();
  const proto = b.funcProto(b.int('long', 8, { signed: true }));
  const funcInfo = new Uint8Array(8 * funcs.length);
  const iv = new DataView(funcInfo.buffer);
  funcs.forEach((f, i) => {
    iv.setUint32(8 * i, f.insnOff, true);
    iv.setUint32(8 * i + 4, b.func(f.name, proto), true);
  });
  let btf: Btf;
  try {
    btf = Btf.load(b.build());
  } catch (err) {
    return `BPF_BTF_LOAD: ${(err as Error).message}`;
  }
  try {
    const log = withLog ? new Uint8Array(1 << 16) : null;
    const params = {
      progType: ProgType.Syscall,
      insns,
      license: LICENSE,
      log,
      logLevel: withLog ? 1 : 0,
      progFlags: BPF_F_SLEEPABLE,
      name: 'bpfmap_loop',
      expectedAttachType: 0,
      kernVersion: 0,
      btfFd: btf.fd,
      funcInfo,
    };
    let fd = progLoad(params);
    // The verifier gives up with EAGAIN when a signal arrives meanwhile.
    for (let tries = 0; fd === -errnoNumber('EAGAIN') && tries < 5; tries++) fd = progLoad(params);
    if (fd >= 0) return fd;
    let why = `BPF_PROG_LOAD: ${errnoName(-fd)}`;
    if (log) {
      const end = log.indexOf(0);
      const text = Buffer.from(log.buffer, 0, end < 0 ? log.length : end)
        .toString('utf8')
        .trim();
      if (text) why += `: ${text.split('\n').slice(-6).join(' | ')}`;
    }
    return why;
  } finally {
    btf.close(); // the program keeps its own reference
  }
}

/**
 * The write loop: `bpf_loop(n)` updating key i with value i (flags 0), or deleting key i; at the
 * first helper error it stores i in header word 1 and -err in word 2 and stops (word 2 is 0 when
 * every element was applied).
 */
export function writeProgram(targetFd: number, scratchFd: number, l: ScratchLayout, del: boolean): Asm {
  const a = loopOverScratch(scratchFd, 8);
  a.label('step').mov64(R6, R1).jge(R6, l.cap, 'stop').ldMapValue(R7, scratchFd, 0);
  slot(a, R2, l.keySize, KEYS);
  if (!del) {
    slot(a, R3, l.valueSize, l.values);
    a.mov64(R4, 0);
  }
  a.ldMapFd(R1, targetFd)
    .call(del ? 'map_delete_elem' : 'map_update_elem')
    .jne(R0, 0, 'fail')
    .mov64(R0, 0)
    .exit();
  a.label('fail').st('u32', R7, 4, R6).neg(64, R0).st('u32', R7, 8, R0).mov64(R0, 1).exit();
  a.label('stop').mov64(R0, 1).exit();
  return a;
}

/** A loaded loop program of one map and its scratch; owns the program fd (closed with the scratch by `release`, or at collection). */
export class LoadedLoop {
  readonly scratch: Scratch;
  readonly progFd: number;
  constructor(scratch: Scratch, progFd: number) {
    this.scratch = scratch;
    this.progFd = progFd;
    own(this, progFd);
  }
  release(): void {
    release(this, this.progFd);
    releaseScratch(this.scratch);
  }
}
