// Scrape time of registerMapMetrics on a large map: a 100k-entry hash with a BTF key
// { char comm[16]; u32 pid; } exported as a counter with two labels (comm as a string, pid),
// scraped through prom-client's Registry (`await registry.metrics()`: the map's batch walk, the
// label decoding and prom-client's text exposition). Reports the median scrape, the part spent
// reading the map (bpfmap_map_read_duration_seconds), and heap/RSS after each scrape (after a GC),
// which must stay flat. Target (issue #19): a scrape under 250 ms. The scrape's CPU time is shown
// beside its wall time: on a machine other work loads, wall time includes waiting for a core.
//
//   node bench/metrics.mjs [--n N] [--scrapes S]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BpfMap, MapType, cstring, defineStruct, registerMapMetrics, u32, u64 } from 'bpfmap';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const { Registry } = createRequire(import.meta.url)('prom-client');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Scrapes a map of `n` entries `scrapes` times: { n, scrapeMs, readMs, walkMs, heapMiB[], rssMiB[], bytes }. */
export async function metricsScrape(n = 100_000, scrapes = 10) {
  const Key = defineStruct('bench_key', { comm: cstring(16), pid: u32 });
  const map = BpfMap.create({ type: MapType.Hash, name: 'bench_metrics', key: Key, value: u64, maxEntries: n });
  try {
    const keys = new Uint8Array(n * Key.size);
    const values = new Uint8Array(n * 8);
    const dv = new DataView(values.buffer);
    for (let i = 0; i < n; i++) {
      Key.encode({ comm: `proc${i % 1000}`, pid: 1000 + i }, keys, i * Key.size);
      dv.setBigUint64(i * 8, BigInt(i), true);
    }
    map.updateBatch(keys, values);
    const registry = new Registry();
    const handle = registerMapMetrics(
      registry,
      {
        metrics: [
          {
            name: 'bench_calls_total',
            type: 'counter',
            map: 'calls',
            labels: [
              { name: 'comm', field: 'comm', decoder: 'string' },
              { name: 'pid', field: 'pid' },
            ],
          },
        ],
      },
      { object: { maps: { calls: map } } },
    );
    const scrapeMs = [];
    const cpuMs = [];
    const readMs = [];
    const heapMiB = [];
    const rssMiB = [];
    let bytes = 0;
    for (let s = 0; s < scrapes; s++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const text = await registry.metrics();
      const c1 = process.cpuUsage(c0);
      scrapeMs.push(performance.now() - t0);
      cpuMs.push((c1.user + c1.system) / 1000);
      bytes = text.length;
      const m = /bpfmap_map_read_duration_seconds\{map="calls"\} (\S+)/.exec(text);
      readMs.push(Number(m?.[1]) * 1000);
      if (!text.includes(`bench_calls_total{comm="proc999",pid="${1000 + 999}"} 999`))
        throw new Error('bench: a sample is missing');
      gc();
      const mem = process.memoryUsage();
      heapMiB.push(mem.heapUsed / 2 ** 20);
      rssMiB.push(mem.rss / 2 ** 20);
    }
    handle.close();
    // The walk's own floor: the same batch walk (BPF_MAP_LOOKUP_BATCH, 8192 per call) with nothing
    // decoded, so `readMs` minus this is the decoding; the rest of a scrape is the exposition.
    const walkMs = [];
    const walkCpuMs = [];
    for (let s = 0; s < scrapes; s++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let seen = 0;
      for (const chunk of map.chunks({ reuse: true, batchSize: 8192 })) seen += chunk.count;
      const c1 = process.cpuUsage(c0);
      walkMs.push(performance.now() - t0);
      walkCpuMs.push((c1.user + c1.system) / 1000);
      if (seen !== n) throw new Error(`bench: the walk saw ${seen} entries, not ${n}`);
    }
    // The floor: prom-client alone exposing the same 100k label sets from a plain Counter (no map).
    const plain = new Registry();
    const c = new (createRequire(import.meta.url)('prom-client').Counter)({
      name: 'bench_plain_total',
      help: 'h',
      labelNames: ['comm', 'pid'],
      registers: [plain],
    });
    for (let i = 0; i < n; i++) c.inc({ comm: `proc${i % 1000}`, pid: String(1000 + i) }, i);
    const plainMs = [];
    for (let s = 0; s < Math.min(scrapes, 5); s++) {
      const t0 = performance.now();
      await plain.metrics();
      plainMs.push(performance.now() - t0);
    }
    // The exposition's own floor: prom-client's Registry serialising the same 100k samples in the
    // form registerMapMetrics hands them (labels as sharedLabels, whose text prom-client caches per
    // object), prebuilt, so no map is read: what a scrape costs beyond the walk.
    const NO_LABELS = Object.freeze({});
    const prebuilt = [];
    for (let i = 0; i < n; i++)
      prebuilt.push({ labels: NO_LABELS, sharedLabels: { comm: `proc${i % 1000}`, pid: String(1000 + i) }, value: i });
    const floorReg = new Registry();
    const fc = new (createRequire(import.meta.url)('prom-client').Counter)({
      name: 'bench_floor_total',
      help: 'h',
      labelNames: ['comm', 'pid'],
      registers: [floorReg],
    });
    fc.getForPromString = async function () {
      return { name: this.name, help: this.help, type: 'counter', aggregator: 'first', values: prebuilt };
    };
    const floorMs = [];
    const floorCpuMs = [];
    for (let s = 0; s < scrapes; s++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await floorReg.metrics();
      const c1 = process.cpuUsage(c0);
      floorMs.push(performance.now() - t0);
      floorCpuMs.push((c1.user + c1.system) / 1000);
    }
    return {
      promClientAloneMs: median(plainMs),
      exposeMs: median(floorMs),
      exposeCpuMs: median(floorCpuMs),
      n,
      scrapes,
      scrapeMs: median(scrapeMs),
      cpuMs: median(cpuMs),
      readMs: median(readMs),
      walkMs: median(walkMs),
      walkCpuMs: median(walkCpuMs),
      firstMs: scrapeMs[0],
      heapMiB,
      rssMiB,
      bytes,
    };
  } finally {
    map.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values: args } = parseArgs({ options: { n: { type: 'string' }, scrapes: { type: 'string' } } });
  const r = await metricsScrape(Number(args.n ?? 100_000), Number(args.scrapes ?? 10));
  const f = (x) => x.toFixed(1);
  console.log(
    `bpfmap metrics bench: ${r.n} entries, 2 labels, ${r.scrapes} scrapes, ${(r.bytes / 2 ** 20).toFixed(1)} MiB of exposition`,
  );
  console.log(
    `scrape (walk + decode + prom-client exposition): median ${f(r.scrapeMs)} ms (first ${f(r.firstMs)} ms), target < 250 ms`,
  );
  console.log(`  CPU time of the scrape (user + system, less sensitive to a loaded machine): median ${f(r.cpuMs)} ms`);
  console.log(`  of which the map walk and decoding:               median ${f(r.readMs)} ms`);
  console.log(`  the batch walk alone, nothing decoded:            median ${f(r.walkMs)} ms, CPU ${f(r.walkCpuMs)} ms`);
  console.log(`prom-client alone, the same series from a plain Counter: median ${f(r.promClientAloneMs)} ms`);
  console.log(
    `prom-client's exposition alone of the same samples as handed over (no walk): median ${f(r.exposeMs)} ms, CPU ${f(r.exposeCpuMs)} ms`,
  );
  console.log(`heap after GC, per scrape (MiB): ${r.heapMiB.map(f).join(' ')}`);
  console.log(`RSS per scrape (MiB):            ${r.rssMiB.map(f).join(' ')}`);
}
