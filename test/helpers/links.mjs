// Programs for the link tests: a counter that adds 1 to a u64 in an array map each time it runs
// (optionally only in one process), loaded with loadProgram and closed when the test ends.
import { Asm, loadProgram, MapType, R0, R1, R6 } from 'bpfmap';
import { closeAfter, readU64, tmpMap, u32 } from './kernel.mjs';

/**
 * A program of `type` counting its runs in map value [count u64, tgid u64]: with `filter`, only
 * runs in the process whose tgid is in the second word count. `ret` is the program's return value.
 * `load` adds loadProgram options (expectedAttachType, attachTo, section).
 */
export function counter(t, type, { filter = false, ret = 0, load = {} } = {}) {
  const map = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 16, maxEntries: 1 });
  const a = new Asm().ldMapValue(R6, map, 0);
  if (filter) a.call('get_current_pid_tgid').alu('rsh', 64, R0, 32).ldx('u64', R1, R6, 8).jne(R0, R1, 'out');
  a.mov64(R1, 1).atomic('add', 'u64', R6, 0, R1).label('out').mov64(R0, ret).exit();
  const prog = closeAfter(t, loadProgram({ type, instructions: a, name: 'counter', ...load }));
  return {
    prog,
    map,
    count: () => Number(readU64(map.lookup(u32(0)))),
    /** Counts only runs in process `tgid` from now on (and zeroes the count). */
    only(tgid) {
      const v = new Uint8Array(16);
      new DataView(v.buffer).setBigUint64(8, BigInt(tgid), true);
      map.update(u32(0), v);
    },
  };
}

/** Calls getppid(2) `n` times in this process (process.ppid is not cached). */
export function getppid(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x += process.ppid;
  return x;
}
