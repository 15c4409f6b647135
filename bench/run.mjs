// `npm run bench`: bpfmap's map operations against the same syscalls issued by
// a small C program (bench/ref.c, built here with the machine's cc), in the
// same run, alternating rounds; medians per operation and their ratio.
//
//   node bench/run.mjs [--smoke] [--maps-only] [--rounds R] [--n N] [--out FILE]
//
// --smoke: tiny sizes, one round (what `npm test` runs so the bench cannot rot).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { BpfMap, MapType, bpfMapDeleteElem, bpfMapLookupElem, bpfMapUpdateElem, defineStruct, possibleCpus, u32 } from 'bpfmap';
import { cliDumpRows } from './cli-dump.mjs';
// The floor rows call the syscall layer directly (what every BpfMap operation is built on).
import { BLOCK_VALUE, elemKeyed, fromBlock } from '../dist/sys/bpf.js';
import { Cmd } from '../dist/sys/uapi.js';
// The raw for-each walk of a hash (the kernel-loop walk program, which BpfMap uses on arrays only).
import { progRunBare } from '../dist/sys/bpf.js';
import { loadLoop, walkProgram } from '../dist/map/kernel-loop/program.js';
import { createScratch, releaseScratch, scratchLayout } from '../dist/map/kernel-loop/scratch.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    'maps-only': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    n: { type: 'string' },
    out: { type: 'string' },
  },
});
const smoke = args.smoke;
const N = Number(args.n ?? (smoke ? 2000 : 200_000));
const ARRAY_N = Math.min(N, smoke ? 1000 : 100_000);
const ROUNDS = Number(args.rounds ?? (smoke ? 2 : 9));
const BATCH = 256;
const MEMORY_N = smoke ? 20_000 : 1_000_000;
const outFile = args.out ?? join(here, 'out', smoke ? 'bench-smoke.json' : 'bench.json');

/** Targets from issue #7, as the largest acceptable ratio to C. */
const TARGETS = {
  'hash.update': 1.15,
  'hash.lookup': 1.15,
  'hash.delete': 1.15,
  'hash.iterate.batch': 1.1,
  'hash.iterate.batch(reuse)': 1.1,
  'struct.lookup': 1.3,
  'array.lookup': 1.15,
  'percpuArray.lookup': 1.15,
  // Issue #21: many elements per kernel entry.
  'hash.lookupMany': 0.2,
  'array.iterate.chunks': 0.5,
};

function buildRef() {
  const exe = join(here, 'out', 'ref');
  mkdirSync(dirname(exe), { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, join(here, 'ref.c')], { stdio: 'inherit' });
  return exe;
}

/** The C reference as a server: one operation name per line in, ns/element per line out. */
async function startRef(exe) {
  const child = spawn(exe, [String(N), String(BATCH), String(ARRAY_N)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('bench: the C reference exited early');
    return value;
  };
  if ((await next()) !== 'ready') throw new Error('bench: the C reference did not start');
  return {
    async run(op) {
      child.stdin.write(`${op}\n`);
      return Number(await next());
    },
    close() {
      child.stdin.end();
    },
  };
}

const nsPer = (n, fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / n;
};

// Reads are summed into `sink` so that they cannot be optimized away. Masked
// to stay a small integer: a module-level number past 2^30 would be a heap
// number, and every `+=` would allocate, charging the harness's allocation to
// the library (the C side sums into a volatile without allocating).
const MASK = 0x3fff_ffff;
let sink = 0;

/** The library's side: the same maps as ref.c, and one function per operation returning ns/element. */
function jsSide() {
  const key = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const value = new Uint8Array(8);
  const vv = new DataView(value.buffer);
  const out = { out: new Uint8Array(8) };
  const perCpuOut = { out: new Uint8Array(8 * possibleCpus()) };
  const fill = () => {
    for (let k = 0; k < N; k++) {
      kv.setUint32(0, k, true);
      vv.setUint32(0, k, true);
      h.update(key, value);
    }
  };
  const h = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: N });
  fill();
  const pair = defineStruct('pair', { a: 'u32', b: 'u64' });
  const s = BpfMap.create({ type: MapType.Hash, key: u32, value: pair, maxEntries: N });
  const ts = s.typed();
  for (let k = 0; k < N; k++) ts.set(k, { a: k, b: BigInt(k) * 3n });
  const a = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: ARRAY_N });
  for (let k = 0; k < ARRAY_N; k++) {
    kv.setUint32(0, k, true);
    vv.setUint32(0, k, true);
    a.update(key, value);
  }
  // The same N/2 keys as ref.c's hash.lookupRandom: from [0, 2N), about half absent, in random order.
  const RN = N / 2;
  const manyKeys = new Uint8Array(RN * 4);
  const mk = new DataView(manyKeys.buffer);
  for (let i = 0, x = 1; i < RN; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    mk.setUint32(i * 4, (x & 0x7fffffff) % (2 * N), true);
  }
  const manyOut = { values: new Uint8Array(RN * 8), found: new Uint8Array(RN) };
  // Keys 0..RN-1 (present) and values for the batch update/delete rows, as ref.c's.
  const batchKeys = new Uint8Array(RN * 4);
  const batchValues = new Uint8Array(RN * 8);
  for (let i = 0; i < RN; i++) {
    new DataView(batchKeys.buffer).setUint32(i * 4, i, true);
    new DataView(batchValues.buffer).setUint32(i * 8, i + 1, true);
  }
  // The hash walked by a raw bpf_for_each_map_elem program: what a one-entry walk of a hash would cost.
  const walkScratch = createScratch(scratchLayout(N, 4, 8));
  const walkProg =
    typeof walkScratch === 'string' ? walkScratch : loadLoop(walkProgram(h.fd, walkScratch.fd, walkScratch.layout), false);
  const pa = BpfMap.create({ type: MapType.PercpuArray, keySize: 4, valueSize: 8, maxEntries: ARRAY_N });

  /**
   * Operation → [C operation it is compared with, function]. Each loop is written out rather than
   * shared through a helper taking a callback: a shared call site would mix every operation's JIT
   * feedback and add a call per element that the C loop does not have.
   */
  const ops = {
    'hash.update': [
      'hash.update',
      () =>
        nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            vv.setUint32(0, k + 1, true);
            h.update(key, value);
          }
        }),
    ],
    'hash.lookup': [
      'hash.lookup',
      () =>
        nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            sink = (sink + h.lookup(key)[0]) & MASK;
          }
        }),
    ],
    'hash.lookup(out)': [
      'hash.lookup',
      () =>
        nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            sink = (sink + h.lookup(key, out)[0]) & MASK;
          }
        }),
    ],
    'array.lookup(out)': [
      'array.lookup',
      () =>
        nsPer(ARRAY_N, () => {
          for (let k = 0; k < ARRAY_N; k++) {
            kv.setUint32(0, k, true);
            sink = (sink + a.lookup(key, out)[0]) & MASK;
          }
        }),
    ],
    'percpuArray.lookup(out)': [
      'percpuArray.lookup',
      () =>
        nsPer(ARRAY_N, () => {
          for (let k = 0; k < ARRAY_N; k++) {
            kv.setUint32(0, k, true);
            const slots = pa.lookup(key, perCpuOut);
            for (let c = 0; c < slots.length; c++) sink = (sink + slots[c][0]) & MASK;
          }
        }),
    ],
    'hash.lookupInt': [
      'hash.lookup',
      () =>
        nsPer(N, () => {
          for (let k = 0; k < N; k++) if (h.lookupInt(k) === undefined) throw new Error('lookupInt: missing key');
        }),
    ],
    'hash.delete': [
      'hash.delete',
      () => {
        const ns = nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            h.delete(key);
          }
        });
        fill();
        return ns;
      },
    ],
    // The libbpf-shaped functions (issue #21 item 5), on the BpfMap and on its plain fd number.
    'libbpf.update(map)': [
      'hash.update',
      () => {
        const m = h;
        return nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            vv.setUint32(0, k + 1, true);
            bpfMapUpdateElem(m, key, value);
          }
        });
      },
    ],
    'libbpf.lookup(map)': [
      'hash.lookup',
      () => {
        const m = h;
        const v = out.out;
        return nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            if (!bpfMapLookupElem(m, key, v)) throw new Error('bpfMapLookupElem: missing key');
            sink = (sink + v[0]) & MASK;
          }
        });
      },
    ],
    'libbpf.delete(map)': [
      'hash.delete',
      () => {
        const m = h;
        const ns = nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            bpfMapDeleteElem(m, key);
          }
        });
        fill();
        return ns;
      },
    ],
    'libbpf.update(fd)': [
      'hash.update',
      () => {
        const m = h.fd;
        return nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            vv.setUint32(0, k + 1, true);
            bpfMapUpdateElem(m, key, value);
          }
        });
      },
    ],
    'libbpf.lookup(fd)': [
      'hash.lookup',
      () => {
        const m = h.fd;
        const v = out.out;
        return nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            if (!bpfMapLookupElem(m, key, v)) throw new Error('bpfMapLookupElem: missing key');
            sink = (sink + v[0]) & MASK;
          }
        });
      },
    ],
    'libbpf.delete(fd)': [
      'hash.delete',
      () => {
        const m = h.fd;
        const ns = nsPer(N, () => {
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            bpfMapDeleteElem(m, key);
          }
        });
        fill();
        return ns;
      },
    ],
    // What the platform allows: the syscall layer alone (key staged, one native call), and the
    // same plus the new buffer a lookup returns; no checks, no BpfMap.
    'floor.call': [
      'hash.lookup',
      () =>
        nsPer(N, () => {
          const fd = h.fd;
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            if (elemKeyed(Cmd.BPF_MAP_LOOKUP_ELEM, fd, key, key.length, 8) !== 0) throw new Error('floor: missing key');
          }
        }),
    ],
    'floor.call+result': [
      'hash.lookup',
      () =>
        nsPer(N, () => {
          const fd = h.fd;
          for (let k = 0; k < N; k++) {
            kv.setUint32(0, k, true);
            if (elemKeyed(Cmd.BPF_MAP_LOOKUP_ELEM, fd, key, key.length, 8) !== 0) throw new Error('floor: missing key');
            sink = (sink + fromBlock(new Uint8Array(8), BLOCK_VALUE, 8)[0]) & MASK;
          }
        }),
    ],
    'hash.iterate.getNextKey': [
      'hash.iterate.getNextKey',
      () =>
        nsPer(N, () => {
          let n = 0;
          for (let k = h.getNextKey(); k !== undefined; k = h.getNextKey(k)) {
            sink = (sink + h.lookup(k, out)[0]) & MASK;
            n++;
          }
          if (n !== N) throw new Error(`get-next-key walk saw ${n} of ${N}`);
        }),
    ],
    'hash.iterate.batch': [
      'hash.iterate.batch',
      () =>
        nsPer(N, () => {
          let n = 0;
          for (const c of h.chunks({ batchSize: BATCH })) {
            const ks = new Uint32Array(c.keys.buffer, c.keys.byteOffset, c.count);
            const vs = new Uint32Array(c.values.buffer, c.values.byteOffset, c.count * 2);
            for (let i = 0; i < c.count; i++) sink = (sink + ks[i] + vs[2 * i]) & MASK;
            n += c.count;
          }
          if (n !== N) throw new Error(`batch walk saw ${n} of ${N}`);
        }),
    ],
    'hash.iterate.batch(reuse)': [
      'hash.iterate.batch',
      () =>
        nsPer(N, () => {
          let n = 0;
          for (const c of h.chunks({ batchSize: BATCH, reuse: true })) {
            const ks = new Uint32Array(c.keys.buffer, c.keys.byteOffset, c.count);
            const vs = new Uint32Array(c.values.buffer, c.values.byteOffset, c.count * 2);
            for (let i = 0; i < c.count; i++) sink = (sink + ks[i] + vs[2 * i]) & MASK;
            n += c.count;
          }
          if (n !== N) throw new Error(`batch walk saw ${n} of ${N}`);
        }),
    ],
    'hash.iterate.entries': [
      'hash.iterate.batch',
      () =>
        nsPer(N, () => {
          let n = 0;
          for (const [k, v] of h.entries()) {
            sink = (sink + k[0] + v[0]) & MASK;
            n++;
          }
          if (n !== N) throw new Error(`entries() saw ${n} of ${N}`);
        }),
    ],
    'hash.lookupMany': [
      'hash.lookupRandom',
      () =>
        nsPer(RN, () => {
          const r = h.lookupMany(manyKeys, manyOut);
          sink = (sink + r.count + r.values[8]) & MASK;
        }),
    ],
    'hash.lookup(random)': [
      'hash.lookupRandom',
      () =>
        nsPer(RN, () => {
          for (let i = 0; i < RN; i++) {
            const v = h.lookup(manyKeys.subarray(i * 4, i * 4 + 4), out);
            if (v !== undefined) sink = (sink + v[0]) & MASK;
          }
        }),
    ],
    'hash.updateBatch': [
      'hash.updateBatch',
      () =>
        nsPer(RN, () => {
          if (h.updateBatch(batchKeys, batchValues) !== RN) throw new Error('updateBatch: short');
        }),
    ],
    'hash.deleteBatch': [
      'hash.deleteBatch',
      () => {
        const ns = nsPer(RN, () => {
          if (h.deleteBatch(batchKeys) !== RN) throw new Error('deleteBatch: short');
        });
        fill();
        return ns;
      },
    ],
    'array.iterate.chunks': [
      'array.iterate.batch',
      () =>
        nsPer(ARRAY_N, () => {
          let n = 0;
          for (const c of a.chunks({ batchSize: BATCH })) {
            const ks = new Uint32Array(c.keys.buffer, c.keys.byteOffset, c.count);
            const vs = new Uint32Array(c.values.buffer, c.values.byteOffset, c.count * 2);
            for (let i = 0; i < c.count; i++) sink = (sink + ks[i] + vs[2 * i]) & MASK;
            n += c.count;
          }
          if (n !== ARRAY_N) throw new Error(`array walk saw ${n} of ${ARRAY_N}`);
        }),
    ],
    'array.iterate.batch': [
      'array.iterate.batch',
      () =>
        nsPer(ARRAY_N, () => {
          let n = 0;
          for (const c of a.lookupBatch({ batchSize: BATCH })) n += c.count;
          if (n !== ARRAY_N) throw new Error(`array batch walk saw ${n} of ${ARRAY_N}`);
        }),
    ],
    'hash.iterate.forEach(raw)': [
      'hash.iterate.batch',
      () => {
        if (typeof walkProg === 'string') return Number.NaN; // refused: shown as NaN
        return nsPer(N, () => {
          if (progRunBare(walkProg) !== 0 || walkScratch.header[0] !== N) throw new Error('for-each walk failed');
        });
      },
    ],
    'struct.lookup': [
      'struct.lookup',
      () =>
        nsPer(N, () => {
          for (let k = 0; k < N; k++) sink = (sink + ts.get(k).a) & MASK;
        }),
    ],
    'array.lookup': [
      'array.lookup',
      () =>
        nsPer(ARRAY_N, () => {
          for (let k = 0; k < ARRAY_N; k++) {
            kv.setUint32(0, k, true);
            sink = (sink + a.lookup(key)[0]) & MASK;
          }
        }),
    ],
    'percpuArray.lookup': [
      'percpuArray.lookup',
      () =>
        nsPer(ARRAY_N, () => {
          for (let k = 0; k < ARRAY_N; k++) {
            kv.setUint32(0, k, true);
            for (const slot of pa.lookup(key)) sink = (sink + slot[0]) & MASK;
          }
        }),
    ],
  };
  return {
    ops,
    close() {
      for (const m of [h, s, a, pa]) m.close();
      if (typeof walkScratch !== 'string') releaseScratch(walkScratch);
    },
  };
}

/** Resident-memory growth while iterating MEMORY_N entries, measured in a fresh process. */
function memoryRun() {
  const child = join(here, 'memory.mjs');
  const outText = execFileSync(process.execPath, ['--expose-gc', child, String(MEMORY_N)], { encoding: 'utf8' });
  return JSON.parse(outText);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// Each round runs every operation once on each side, back to back, alternating
// which side goes first; a ratio is taken per pair, then the median of those.
const push = (table, key, v) => {
  if (table[key] === undefined) table[key] = [];
  table[key].push(v);
};
const ref = await startRef(buildRef());
const js = jsSide();
const lib = {};
const c = {};
const ratios = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [op, [refOp, fn]] of Object.entries(js.ops)) {
    let cNs;
    let libNs;
    if (round % 2 === 0) {
      cNs = await ref.run(refOp);
      libNs = fn();
    } else {
      libNs = fn();
      cNs = await ref.run(refOp);
    }
    push(lib, op, libNs);
    push(c, op, cNs);
    push(ratios, op, libNs / cNs);
  }
}
ref.close();
js.close();

const ORDER = [
  'hash.update',
  'hash.lookup',
  'hash.lookup(out)',
  'hash.lookupInt',
  'hash.delete',
  'libbpf.update(map)',
  'libbpf.lookup(map)',
  'libbpf.delete(map)',
  'libbpf.update(fd)',
  'libbpf.lookup(fd)',
  'libbpf.delete(fd)',
  'hash.iterate.getNextKey',
  'hash.iterate.batch',
  'hash.iterate.batch(reuse)',
  'hash.iterate.entries',
  'struct.lookup',
  'array.lookup',
  'array.lookup(out)',
  'percpuArray.lookup',
  'percpuArray.lookup(out)',
  'floor.call',
  'floor.call+result',
  'hash.lookupMany',
  'hash.lookup(random)',
  'hash.updateBatch',
  'hash.deleteBatch',
  'array.iterate.chunks',
  'array.iterate.batch',
  'hash.iterate.forEach(raw)',
];
const rows = ORDER.map((op) => [op, js.ops[op]]).map(([op, [refOp]]) => {
  const ratio = median(ratios[op]);
  const target = TARGETS[op];
  return {
    op,
    refOp,
    libNs: median(lib[op]),
    cNs: median(c[op]),
    ratio,
    target: target ?? null,
    met: target === undefined ? null : ratio <= target,
  };
});
const gnk = median(lib['hash.iterate.getNextKey']);
const batch = median(lib['hash.iterate.batch']);
// entries() against chunks() per entry, as the median of the two rows' ratio within each round (issue #21).
const entriesVsChunks = median(lib['hash.iterate.entries'].map((ns, i) => ns / lib['hash.iterate.batch'][i]));
const memory = memoryRun();
const cliDump = await cliDumpRows(smoke ? 2000 : 100_000, smoke ? 1 : 5);

const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
if (smoke) console.log('smoke run: sizes too small for meaningful ratios (JIT warm-up dominates)');
console.log(`bpfmap bench: ${N} hash keys, ${ARRAY_N} array entries, batch ${BATCH}, ${ROUNDS} round(s), medians`);
console.log(`${pad('operation', 24)}${lpad('bpfmap ns/op', 14)}${lpad('C ns/op', 10)}${lpad('ratio', 8)}  target`);
console.log('(ns per element; ratio: median over rounds of bpfmap/C measured back to back)');
for (const r of rows) {
  const mark = r.target === null ? '' : `≤ ${r.target.toFixed(2)} ${r.met ? 'met' : 'MISSED'}`;
  const vs = r.refOp === r.op ? '' : ` (vs C ${r.refOp})`;
  console.log(
    `${pad(r.op, 24)}${lpad(r.libNs.toFixed(0), 14)}${lpad(r.cNs.toFixed(0), 10)}${lpad(r.ratio.toFixed(2), 8)}  ${mark}${vs}`,
  );
}
console.log(`batch iteration is ${(gnk / batch).toFixed(1)}× faster than a get-next-key loop (target ≥ 5×)`);
// The libbpf functions on a BpfMap against the BpfMap methods, as the difference of their ratios to C.
const libbpfVsMethods = Object.fromEntries(
  [
    ['update', 'hash.update'],
    ['lookup', 'hash.lookup(out)'],
    ['delete', 'hash.delete'],
  ].map(([op, method]) => [op, median(ratios[`libbpf.${op}(map)`]) - median(ratios[method])]),
);
console.log(
  `libbpf functions on a BpfMap, ratio to C minus the method's: ${Object.entries(libbpfVsMethods)
    .map(([op, d]) => `${op} ${d >= 0 ? '+' : ''}${d.toFixed(2)}`)
    .join(', ')} (target ≤ +0.03); on a plain fd: ${['update', 'lookup', 'delete']
    .map((op) => `${op} ${median(ratios[`libbpf.${op}(fd)`]).toFixed(2)}×`)
    .join(', ')} C (target ≤ 2.5×)`,
);
console.log(`entries() costs ${entriesVsChunks.toFixed(2)}× chunks() per entry, same rounds (target ≤ 1.2×)`);
console.log(
  'hash.iterate.forEach(raw): the kernel-side cost alone of walking the hash with bpf_for_each_map_elem in a syscall program (no copy out, no dedupe); chunks() uses that walk on arrays only (iter/bpf_map_elem programs are refused with EPERM on this kernel)',
);
console.log(
  `iterating ${memory.entries} entries: RSS grew ${memory.rssGrowthMiB.toFixed(1)} MiB at most (entries()), ${memory.typedRssGrowthMiB.toFixed(1)} MiB (typed entries()) (target < 64 MiB)`,
);

console.log(
  `${pad('CLI dump --json', 24)}${lpad('bpfmap ms', 14)}${lpad('bpftool', 10)}${lpad('ratio', 8)}  peak RSS (vs bpftool map dump -j, same round)`,
);
for (const r of cliDump)
  console.log(
    `${pad(r.op, 24)}${lpad(r.cliMs.toFixed(0), 14)}${lpad(r.bpftoolMs.toFixed(0), 10)}${lpad(r.ratio.toFixed(2), 8)}  ${r.cliPeakRssMiB === null ? '?' : `${r.cliPeakRssMiB.toFixed(0)} MiB`} (${r.n} entries)`,
  );

const summary = {
  date: new Date().toISOString(),
  machine: { kernel: os.release(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', node: process.version },
  params: { n: N, arrayN: ARRAY_N, batch: BATCH, rounds: ROUNDS, smoke },
  rows,
  batchVsGetNextKey: gnk / batch,
  entriesVsChunks,
  libbpfVsMethods,
  memory,
  cliDump,
  raw: { lib, c, ratios },
};
mkdirSync(dirname(outFile), { recursive: true });
writeFileSync(outFile, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`summary written to ${outFile}`);
if (sink === -1) console.log(''); // keep the reads observable

// The object loader (issue 16: openObject + load against libbpf) and the metrics scrape (issue 19:
// a 100k-entry map through prom-client) run as their own processes, so their heaps and the kernel
// BTF cache start cold as a user's would; `--maps-only` leaves them out.
if (!smoke && !args['maps-only'])
  for (const script of ['objects.mjs', 'metrics.mjs']) {
    console.log(`\n== bench/${script}`);
    execFileSync(process.execPath, [join(here, script)], { stdio: 'inherit' });
  }
