/** CPU counting for per-CPU map values. */
import { readFileSync } from 'node:fs';
import { BpfError, errnoNumber } from '../errors.js';

/**
 * Parses a kernel CPU list such as `0-3,8-11` into the CPU numbers it names.
 * @throws {RangeError} when the text is not a CPU list.
 */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = [];
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new RangeError(`not a CPU list: ${JSON.stringify(text)} (expected e.g. "0-3,8-11")`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new RangeError(`not a CPU list: ${JSON.stringify(text)} (range ${part} runs backwards)`);
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return cpus;
}

let possible: number[] | undefined;

const POSSIBLE = '/sys/devices/system/cpu/possible';

/**
 * The possible CPUs' numbers, from `/sys/devices/system/cpu/possible` (read once).
 * @throws {BpfError} (command `open`) when the file cannot be read, e.g. EMFILE when no fd is free.
 */
export function possibleCpuList(): readonly number[] {
  if (possible === undefined) {
    let text: string;
    try {
      text = readFileSync(POSSIBLE, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      let errno = errnoNumber('EIO');
      try {
        if (code) errno = errnoNumber(code);
      } catch {}
      throw new BpfError('open', errno, { hint: `reading ${POSSIBLE} (the number of possible CPUs)`, cause: err });
    }
    possible = parseCpuList(text);
  }
  return possible;
}

/**
 * The number of possible CPUs: how many values a per-CPU map holds per key.
 * Counted from `/sys/devices/system/cpu/possible`, not from the online CPUs,
 * which can be fewer on hotplug-capable machines.
 */
export function possibleCpus(): number {
  return possibleCpuList().length;
}

/** `n` rounded up to a multiple of 8: the stride of one CPU's slot in a per-CPU value. */
export function roundUp8(n: number): number {
  return (n + 7) & ~7;
}
