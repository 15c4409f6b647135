// The CLI's `dump --json` against `bpftool map dump -j` on the same map, timed in the same round:
// both spawned, wall clock from spawn to exit, alternating which goes first; medians of the
// per-round ratios. The CLI's peak RSS comes from /usr/bin/time (%M, the child's maximum RSS).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfMap, MapType, defineStruct, u32 } from 'bpfmap';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs argv to the end with stdout discarded: wall-clock ms, and max RSS in KiB when measured. */
function run(argv, measureRss) {
  return new Promise((resolve, reject) => {
    const cmd = measureRss && TIME ? [TIME, '-f', '%M', ...argv] : argv;
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${argv.join(' ')} exited ${code}: ${err}`));
      const rss = measureRss && TIME ? Number(err.trim().split('\n').at(-1)) : undefined;
      resolve({ ms, rss });
    });
  });
}

const stats = defineStruct('stats', { packets: 'u64', bytes: 'u64', drops: 'u32', proto: 'u16', flags: 'u16' });

function makeMaps(n) {
  const keys = new Uint8Array(4 * n);
  const kv = new DataView(keys.buffer);
  for (let i = 0; i < n; i++) kv.setUint32(4 * i, i, true);
  const fill = (m, valueBytes) => {
    const values = new Uint8Array(valueBytes * n);
    for (let i = 0; i < values.length; i++) values[i] = (i * 7) & 255;
    m.updateBatch(keys, values);
    return m;
  };
  const hash = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: n, name: 'bench_dump_u64' });
  const struct = BpfMap.create({ type: MapType.Hash, key: u32, value: stats, maxEntries: n, name: 'bench_dump_st' });
  const percpu = BpfMap.create({ type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: n, name: 'bench_dump_pc' });
  return [
    ['cli.dump.u32→u64', fill(hash, 8)],
    ['cli.dump.struct(btf)', fill(struct, stats.size)],
    ['cli.dump.percpu', fill(percpu, percpu.valueBufferSize)],
  ];
}

/** One row per map: { op, n, cliMs, bpftoolMs, ratio, cliPeakRssMiB }. */
export async function cliDumpRows(n, rounds) {
  const maps = makeMaps(n);
  const rows = [];
  try {
    for (const [op, m] of maps) {
      const ours = [];
      const theirs = [];
      const ratios = [];
      const rss = [];
      const cliArgv = [process.execPath, BIN, 'dump', 'id', String(m.id), '--json'];
      const toolArgv = ['bpftool', '-j', 'map', 'dump', 'id', String(m.id)];
      for (let r = 0; r < rounds; r++) {
        let a;
        let b;
        if (r % 2 === 0) {
          a = await run(cliArgv, true);
          b = await run(toolArgv, false);
        } else {
          b = await run(toolArgv, false);
          a = await run(cliArgv, true);
        }
        ours.push(a.ms);
        theirs.push(b.ms);
        ratios.push(a.ms / b.ms);
        if (a.rss !== undefined) rss.push(a.rss);
      }
      rows.push({
        op,
        n,
        cliMs: median(ours),
        bpftoolMs: median(theirs),
        ratio: median(ratios),
        cliPeakRssMiB: rss.length ? Math.max(...rss) / 1024 : null,
        raw: { cli: ours, bpftool: theirs, ratios },
      });
    }
  } finally {
    for (const [, m] of maps) m.close();
  }
  return rows;
}
