// Issue #21 item 3, measured: updates and deletes by key from a bpf_loop in a syscall program (keys
// and values written through an mmapped scratch, one BPF_PROG_TEST_RUN per chunk) against the
// kernel's BPF_MAP_UPDATE_BATCH / BPF_MAP_DELETE_BATCH as BpfMap.updateBatch/deleteBatch issue them.
// Same process, alternating rounds; prints medians in ns/element and the ratio loop/batch.
//
//   node bench/kernel-loop-updates.mjs [N]     (default 100000 elements into a 200000-entry hash)
import { Asm, BpfMap, MapType, R0, R1, R2, R3, R4, R6, R7, R10 } from 'bpfmap';
import { progRunBare } from '../dist/sys/bpf.js';
import { loadLoop } from '../dist/map/kernel-loop/program.js';
import { KEYS, createScratch, scratchLayout } from '../dist/map/kernel-loop/scratch.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = 7;
const h = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 * N });
const layout = scratchLayout(N, 4, 8);
const scratch = createScratch(layout);
if (typeof scratch === 'string') throw new Error(scratch);

/** bpf_loop(n): update (or delete) key i; on the first error, header[1] = i, header[2] = -err, stop. */
function program(d) {
  const a = new Asm();
  a.ldMapValue(R6, scratch.fd, 0)
    .ldx('u32', R1, R6, 0)
    .ldFunc(R2, 'step')
    .st('u64', R10, -8, 0)
    .mov64(R3, R10)
    .add64(R3, -8)
    .mov64(R4, 0)
    .call('loop')
    .mov64(R0, 0)
    .exit();
  a.label('step').mov64(R6, R1).jge(R6, N, 'stop').ldMapValue(R7, scratch.fd, 0);
  a.mov64(R2, R6).mul64(R2, 4).add64(R2, R7).add64(R2, KEYS);
  if (!d) a.mov64(R3, R6).mul64(R3, 8).add64(R3, R7).add64(R3, layout.values).mov64(R4, 0);
  a.ldMapFd(R1, h.fd)
    .call(d ? 'map_delete_elem' : 'map_update_elem')
    .jne(R0, 0, 'fail')
    .mov64(R0, 0)
    .exit();
  a.label('fail').st('u32', R7, 4, R6).neg(64, R0).st('u32', R7, 8, R0).mov64(R0, 1).exit();
  a.label('stop').mov64(R0, 1).exit();
  return a;
}

const upd = loadLoop(program(false), true);
const del = loadLoop(program(true), true);
if (typeof upd === 'string' || typeof del === 'string') throw new Error(`${upd} / ${del}`);

const keys = new Uint8Array(N * 4);
const values = new Uint8Array(N * 8);
const kv = new DataView(keys.buffer);
for (let i = 0; i < N; i++) {
  kv.setUint32(i * 4, (i * 2654435761) >>> 0, true);
  new DataView(values.buffer).setUint32(i * 8, i, true);
}
const ns = (fn) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / N;
};
const viaLoop = (prog, withValues) => {
  scratch.header[0] = N;
  scratch.header[1] = 0;
  scratch.header[2] = 0;
  scratch.bytes.set(keys, KEYS);
  if (withValues) scratch.bytes.set(values, layout.values);
  if (progRunBare(prog) !== 0 || scratch.header[2] !== 0)
    throw new Error(`loop failed at ${scratch.header[1]}: errno ${scratch.header[2]}`);
};
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const r = { loopUpdate: [], batchUpdate: [], loopDelete: [], batchDelete: [] };
for (let round = 0; round < ROUNDS; round++) {
  const pairs = [
    ['batchUpdate', () => h.updateBatch(keys, values), 'batchDelete', () => h.deleteBatch(keys)],
    ['loopUpdate', () => viaLoop(upd, true), 'loopDelete', () => viaLoop(del, false)],
  ];
  if (round % 2) pairs.reverse();
  for (const [u, uf, d, df] of pairs) {
    r[u].push(ns(uf)); // into an empty map: every key new
    r[d].push(ns(df)); // every key present
  }
}
const f = (k) => med(r[k]).toFixed(0).padStart(6);
console.log(`${N} elements, ${ROUNDS} rounds, medians (ns/element):`);
console.log(
  `update: loop ${f('loopUpdate')}  batch ${f('batchUpdate')}  ratio ${(med(r.loopUpdate) / med(r.batchUpdate)).toFixed(2)}`,
);
console.log(
  `delete: loop ${f('loopDelete')}  batch ${f('batchDelete')}  ratio ${(med(r.loopDelete) / med(r.batchDelete)).toFixed(2)}`,
);
