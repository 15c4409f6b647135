// Issue #21 item 3, measured: updates and deletes by key from a bpf_loop in a syscall program (keys
// and values written through an mmapped scratch, one BPF_PROG_TEST_RUN per chunk) against the
// kernel's BPF_MAP_UPDATE_BATCH / BPF_MAP_DELETE_BATCH as BpfMap.updateBatch/deleteBatch issue them.
// Same process, alternating rounds; prints medians in ns/element and the ratio loop/batch.
//
//   node bench/kernel-loop-updates.mjs [N]     (default 100000 elements into a 200000-entry hash)
// updateBatch/deleteBatch themselves run the same loop now: keep them on the kernel's batch commands.
process.env.BPFMAP_KERNEL_LOOP = '0';
import { BpfMap, MapType } from 'bpfmap';
import { progRunBare } from '../dist/sys/bpf.js';
import { loadLoop, writeProgram } from '../dist/map/kernel-loop/program.js';
import { KEYS, createScratch, scratchLayout } from '../dist/map/kernel-loop/scratch.js';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = 7;
const h = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 * N });
const layout = scratchLayout(N, 4, 8);
const scratch = createScratch(layout);
if (typeof scratch === 'string') throw new Error(scratch);

const upd = loadLoop(writeProgram(h.fd, scratch.fd, layout, false), true);
const del = loadLoop(writeProgram(h.fd, scratch.fd, layout, true), true);
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
