// Resident-memory growth while iterating a large hash map (run by bench/run.mjs
// in a fresh process with --expose-gc). Prints one JSON object.
import { BpfMap, MapType, u32, u64 } from 'bpfmap';

const n = Number(process.argv[2] ?? 1_000_000);
const m = BpfMap.create({ type: MapType.Hash, key: u32, value: u64, maxEntries: n });
const CHUNK = 4096;
const keys = new Uint32Array(CHUNK);
const values = new BigUint64Array(CHUNK);
for (let base = 0; base < n; base += CHUNK) {
  const count = Math.min(CHUNK, n - base);
  for (let i = 0; i < count; i++) {
    keys[i] = base + i;
    values[i] = BigInt(base + i);
  }
  m.updateBatch(new Uint8Array(keys.buffer, 0, count * 4), new Uint8Array(values.buffer, 0, count * 8));
}

/** Peak RSS growth (MiB) over a pass, sampled every 10,000 entries. */
function pass(iterable) {
  globalThis.gc();
  const base = process.memoryUsage.rss();
  let peak = base;
  let seen = 0;
  for (const _ of iterable) {
    if (++seen % 10_000 === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  if (seen !== n) throw new Error(`iteration saw ${seen} of ${n} entries`);
  return (peak - base) / 2 ** 20;
}

const rssGrowthMiB = pass(m.entries());
const typedRssGrowthMiB = pass(m.typed().entries());
m.close();
console.log(JSON.stringify({ entries: n, rssGrowthMiB, typedRssGrowthMiB }));
