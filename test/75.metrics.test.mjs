// registerMapMetrics on a prom-client Registry: maps made here with BTF-described keys and values,
// read at scrape time (`await registry.metrics()`), labels through every decoder, histograms from
// kernel-side slots, per-CPU values, one walk per map per scrape, every config error, and a map
// closed, replaced or unpinned under the metrics.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  BpfMap,
  MapType,
  MetricsConfigError,
  array,
  cstring,
  defineStruct,
  possibleCpus,
  registerMapMetrics,
  u32,
  u64,
} from 'bpfmap';
import { family, samples } from './75.metrics-helpers.mjs';
import { BPFFS, ensureBpffs, pinPath, tmpMap } from './helpers/kernel.mjs';

const { Registry } = createRequire(import.meta.url)('prom-client');
const quiet = { onProblem: () => {} };

const Key = defineStruct('mkey', {
  comm: cstring(16),
  nr: u32,
  err: 'i32',
  ifindex: u32,
  v4: array('u8', 4),
  v6: array('u8', 16),
});
const Val = defineStruct('mval', { count: u64, bytes: u64, level: 'i64' });
const key = (o = {}) => ({ comm: 'x', nr: 0, err: 0, ifindex: 1, v4: [0, 0, 0, 0], v6: new Array(16).fill(0), ...o });

function register(t, registry, config, object, opts = quiet) {
  const m = registerMapMetrics(registry, config, { object: { maps: object }, ...opts });
  t.after(() => m.close());
  return m;
}

test('counters and gauges carry labels from BTF key fields through the decoders', async (t) => {
  const map = tmpMap(t, { type: MapType.Hash, name: 'm75_labels', key: Key, value: Val, maxEntries: 64 });
  const tm = map.typed();
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  tm.set(key({ comm: 'bash', nr: 1, err: -2, v4: [10, 1, 2, 3], v6 }), { count: 5n, bytes: 100n, level: -7n });
  tm.set(key({ comm: 'node', nr: 59, err: 13, v4: [192, 168, 0, 1] }), { count: 7n, bytes: 200n, level: 3n });
  const r = new Registry();
  const labels = [
    { name: 'comm', field: 'comm', decoder: 'string' },
    { name: 'syscall', field: 'nr', decoder: 'syscall' },
    { name: 'nr', field: 'nr' },
    { name: 'errno', field: 'err', decoder: 'errno' },
    { name: 'iface', field: 'ifindex', decoder: 'ifname' },
    { name: 'v4', field: 'v4', decoder: 'ipv4' },
    { name: 'v6', field: 'v6', decoder: 'ipv6' },
  ];
  register(
    t,
    r,
    {
      metrics: [
        { name: 'm75_calls_total', type: 'counter', map: 'm', labels, value: 'count', help: 'calls' },
        { name: 'm75_bytes', type: 'gauge', map: 'm', labels: [labels[0]], value: 'bytes' },
        { name: 'm75_level', type: 'gauge', map: 'm', labels: [labels[0]], value: 'level' },
      ],
    },
    { m: map },
  );
  const text = await r.metrics();
  const calls = family(text, 'm75_calls_total');
  assert.deepEqual(
    calls,
    new Map([
      ['m75_calls_total{comm="bash",syscall="write",nr="1",errno="ENOENT",iface="lo",v4="10.1.2.3",v6="2001:db8::1"}', 5],
      ['m75_calls_total{comm="node",syscall="execve",nr="59",errno="EACCES",iface="lo",v4="192.168.0.1",v6="::"}', 7],
    ]),
  );
  assert.match(text, /# HELP m75_calls_total calls\n# TYPE m75_calls_total counter/);
  assert.match(text, /# TYPE m75_bytes gauge/);
  assert.equal(samples(text).get('m75_bytes{comm="node"}'), 200);
  assert.equal(samples(text).get('m75_level{comm="bash"}'), -7);
  assert.equal(samples(text).get('bpfmap_map_entries{map="m"}'), 2);
  assert.equal(samples(text).get('bpfmap_map_max_entries{map="m"}'), 64);
  assert.equal(samples(text).get('bpfmap_scrape_errors_total{map="m"}'), 0);
  assert.ok(samples(text).get('bpfmap_map_read_duration_seconds{map="m"}') > 0);
});

test('ksym names the nearest lower kernel symbol; cgroup names the cgroup2 path; a whole integer key is a label', async (t) => {
  const rows = readFileSync('/proc/kallsyms', 'latin1')
    .split('\n')
    .map((l) => l.split(/\s+/))
    .filter((f) => f.length >= 3 && (f[1] === 'T' || f[1] === 't') && !f[3])
    .map((f) => [BigInt(`0x${f[0]}`), f[2]]);
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const i = rows.findIndex(([a], j) => j > 0 && rows[j - 1][0] < a && rows[j + 1] && rows[j + 1][0] > a + 16n && a > 0n);
  assert.ok(i > 0, 'kallsyms shows addresses (root, kptr_restrict 0)');
  const [addr, sym] = rows[i];
  const mount = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup2')[1];
  const rootId = statSync(mount, { bigint: true }).ino;
  const K = defineStruct('kkey', { ip: u64, cg: u64 });
  const map = tmpMap(t, { type: MapType.Hash, name: 'm75_ksym', key: K, value: u64, maxEntries: 8 });
  map.typed().set({ ip: addr + 8n, cg: rootId }, 3n);
  map.typed().set({ ip: 1n, cg: 987654321987n }, 4n);
  const arr = tmpMap(t, { type: MapType.Array, name: 'm75_intkey', key: u32, value: u64, maxEntries: 3 });
  arr.updateInt(2, 9);
  const r = new Registry();
  register(
    t,
    r,
    {
      metrics: [
        {
          name: 'm75_ksym',
          type: 'gauge',
          map: 'k',
          labels: [
            { name: 'fn', field: 'ip', decoder: 'ksym' },
            { name: 'cg', field: 'cg', decoder: 'cgroup' },
          ],
        },
        { name: 'm75_by_index', type: 'gauge', map: 'a', labels: [{ name: 'index' }] },
      ],
    },
    { k: map, a: arr },
  );
  const s = samples(await r.metrics());
  assert.equal(s.get(`m75_ksym{fn="${sym}",cg="/"}`), 3);
  assert.equal(s.get('m75_ksym{fn="0x1",cg="987654321987"}'), 4, 'unknown address and cgroup id stay numbers');
  assert.deepEqual(
    [...family(await r.metrics(), 'm75_by_index')],
    [
      ['m75_by_index{index="0"}', 0],
      ['m75_by_index{index="1"}', 0],
      ['m75_by_index{index="2"}', 9],
    ],
  );
});

test('each scrape reads the map as it is then; entries with the same labels add up', async (t) => {
  const map = tmpMap(t, { type: MapType.Hash, name: 'm75_change', key: Key, value: Val, maxEntries: 16 });
  const tm = map.typed();
  const r = new Registry();
  register(
    t,
    r,
    {
      metrics: [
        {
          name: 'm75_by_comm_total',
          type: 'counter',
          map: 'm',
          labels: [{ name: 'comm', field: 'comm', decoder: 'string' }],
          value: 'count',
        },
      ],
    },
    { m: map },
  );
  assert.equal(family(await r.metrics(), 'm75_by_comm_total').size, 0);
  tm.set(key({ comm: 'a', nr: 1 }), { count: 1n, bytes: 0n, level: 0n });
  tm.set(key({ comm: 'a', nr: 2 }), { count: 2n, bytes: 0n, level: 0n });
  assert.equal(samples(await r.metrics()).get('m75_by_comm_total{comm="a"}'), 3);
  tm.set(key({ comm: 'a', nr: 2 }), { count: 10n, bytes: 0n, level: 0n });
  assert.equal(samples(await r.metrics()).get('m75_by_comm_total{comm="a"}'), 11, 'the very next scrape sees the change');
  // getMetricsAsJSON (metric.get()) gives plain samples, the text's values, none of the walk's own state.
  const json = (await r.getMetricsAsJSON()).find((m) => m.name === 'm75_by_comm_total');
  assert.deepEqual(json.values, [{ labels: { comm: 'a' }, value: 11 }]);
  map.delete(Key.encode(key({ comm: 'a', nr: 1 })));
  map.delete(Key.encode(key({ comm: 'a', nr: 2 })));
  assert.equal(family(await r.metrics(), 'm75_by_comm_total').size, 0);
  assert.equal(samples(await r.metrics()).get('bpfmap_map_entries{map="m"}'), 0);
});

test('per-CPU values are summed, or labelled by cpu when the config asks', async (t) => {
  const n = possibleCpus();
  const map = tmpMap(t, { type: MapType.PercpuHash, name: 'm75_percpu', key: u32, value: Val, maxEntries: 8 });
  const per = Array.from({ length: n }, (_, c) => Val.encode({ count: BigInt(c + 1), bytes: 0n, level: 0n }));
  map.update(u32.encode(7), per);
  const r = new Registry();
  register(
    t,
    r,
    {
      metrics: [
        { name: 'm75_pc_sum', type: 'counter', map: 'p', labels: [{ name: 'k' }], value: 'count' },
        { name: 'm75_pc_cpu', type: 'counter', map: 'p', labels: [{ name: 'k' }], value: 'count', perCpu: 'label' },
      ],
    },
    { p: map },
  );
  const s = samples(await r.metrics());
  assert.equal(s.get('m75_pc_sum{k="7"}'), (n * (n + 1)) / 2);
  for (let c = 0; c < n; c++) assert.equal(s.get(`m75_pc_cpu{k="7",cpu="${c}"}`), c + 1);
});

test('histograms: exp2, exp2zero and linear slots become cumulative buckets with le bounds; missing slots filled', async (t) => {
  const HK = defineStruct('hkey', { comm: cstring(16), slot: u32 });
  const map = tmpMap(t, { type: MapType.Hash, name: 'm75_hist', key: HK, value: u64, maxEntries: 128 });
  const tm = map.typed();
  tm.set({ comm: 'a', slot: 0 }, 1n);
  tm.set({ comm: 'a', slot: 2 }, 4n);
  tm.set({ comm: 'a', slot: 3 }, 2n);
  tm.set({ comm: 'a', slot: 9 }, 5n); // past maxSlot: only +Inf
  tm.set({ comm: 'b', slot: 1 }, 3n);
  const r = new Registry();
  const labels = [{ name: 'comm', field: 'comm', decoder: 'string' }];
  register(
    t,
    r,
    {
      metrics: [
        {
          name: 'm75_exp2_seconds',
          type: 'histogram',
          map: 'h',
          labels,
          bucket: { type: 'exp2', field: 'slot', multiplier: 0.001, maxSlot: 3 },
        },
        { name: 'm75_exp2zero', type: 'histogram', map: 'h', labels, bucket: { type: 'exp2zero', field: 'slot', maxSlot: 3 } },
        {
          name: 'm75_linear',
          type: 'histogram',
          map: 'h',
          labels,
          bucket: { type: 'linear', field: 'slot', min: 10, max: 40, step: 10 },
        },
      ],
    },
    { h: map },
  );
  const text = await r.metrics();
  assert.match(text, /# TYPE m75_exp2_seconds histogram/);
  assert.deepEqual(
    [...family(text, 'm75_exp2_seconds')].filter(([k]) => k.includes('comm="a"')),
    [
      ['m75_exp2_seconds_bucket{comm="a",le="0.001"}', 1],
      ['m75_exp2_seconds_bucket{comm="a",le="0.002"}', 1],
      ['m75_exp2_seconds_bucket{comm="a",le="0.004"}', 5],
      ['m75_exp2_seconds_bucket{comm="a",le="0.008"}', 7],
      ['m75_exp2_seconds_bucket{comm="a",le="+Inf"}', 12],
      ['m75_exp2_seconds_count{comm="a"}', 12],
    ],
  );
  const s = samples(text);
  assert.equal(s.get('m75_exp2_seconds_bucket{comm="b",le="0.001"}'), 0);
  assert.equal(s.get('m75_exp2_seconds_bucket{comm="b",le="0.002"}'), 3);
  assert.equal(s.get('m75_exp2_seconds_bucket{comm="b",le="0.008"}'), 3);
  assert.equal(s.get('m75_exp2zero_bucket{comm="a",le="0"}'), 1);
  assert.equal(s.get('m75_exp2zero_bucket{comm="a",le="1"}'), 1);
  assert.equal(s.get('m75_exp2zero_bucket{comm="a",le="2"}'), 5);
  assert.equal(s.get('m75_exp2zero_bucket{comm="a",le="4"}'), 7);
  assert.equal(s.get('m75_linear_bucket{comm="a",le="10"}'), 1);
  assert.equal(s.get('m75_linear_bucket{comm="a",le="30"}'), 5);
  assert.equal(s.get('m75_linear_bucket{comm="a",le="40"}'), 7);
  assert.equal(s.get('m75_linear_bucket{comm="a",le="+Inf"}'), 12);
  assert.equal(s.get('m75_exp2_seconds_sum{comm="a"}'), undefined, 'no _sum unless the config says where it is');
});

test('histograms: an array of slots per value, with _sum from a value field, a slot, or another map', async (t) => {
  const n = possibleCpus();
  const Hist = defineStruct('hist', { slots: array('u64', 8), sum_ns: u64 });
  const K = defineStruct('hk2', { pid: u32 });
  const map = tmpMap(t, { type: MapType.PercpuHash, name: 'm75_harr', key: K, value: Hist, maxEntries: 8 });
  const slots = [0n, 1n, 2n, 0n, 0n, 0n, 0n, 6n];
  map.update(K.encode({ pid: 42 }), Hist.encode({ slots, sum_ns: 5000n })); // every CPU holds the same
  const sums = tmpMap(t, { type: MapType.Hash, name: 'm75_hsum', key: K, value: u64, maxEntries: 8 });
  sums.typed().set({ pid: 42 }, 123000n);
  const r = new Registry();
  const labels = [{ name: 'pid', field: 'pid' }];
  register(
    t,
    r,
    {
      metrics: [
        {
          name: 'm75_arr_seconds',
          type: 'histogram',
          map: 'h',
          labels,
          value: 'slots',
          bucket: { type: 'exp2', multiplier: 1e-6, maxSlot: 5 },
          sum: { field: 'sum_ns' },
        },
        { name: 'm75_arr_slot', type: 'histogram', map: 'h', labels, value: 'slots', bucket: { type: 'exp2' }, sum: { slot: 7 } },
        {
          name: 'm75_arr_map',
          type: 'histogram',
          map: 'h',
          labels,
          value: 'slots',
          bucket: { type: 'linear', min: 0, max: 3, step: 1 },
          sum: { map: 's' },
        },
      ],
    },
    { h: map, s: sums },
  );
  const s = samples(await r.metrics());
  assert.equal(s.get('m75_arr_seconds_bucket{pid="42",le="0.000001"}'), 0);
  assert.equal(s.get('m75_arr_seconds_bucket{pid="42",le="0.000002"}'), n);
  assert.equal(s.get('m75_arr_seconds_bucket{pid="42",le="0.000004"}'), 3 * n);
  assert.equal(s.get('m75_arr_seconds_bucket{pid="42",le="0.000032"}'), 3 * n);
  assert.equal(s.get('m75_arr_seconds_bucket{pid="42",le="+Inf"}'), 9 * n, 'slots past maxSlot count in +Inf');
  assert.equal(s.get('m75_arr_seconds_sum{pid="42"}'), 5000 * n * 1e-6);
  assert.equal(s.get('m75_arr_slot_bucket{pid="42",le="+Inf"}'), 3 * n, 'the sum slot is no bucket');
  assert.equal(s.get('m75_arr_slot_bucket{pid="42",le="64"}'), 3 * n);
  assert.equal(s.get('m75_arr_slot_sum{pid="42"}'), 6 * n);
  assert.equal(s.get('m75_arr_map_sum{pid="42"}'), 123000);
  assert.equal(s.get('m75_arr_map_bucket{pid="42",le="3"}'), 3 * n);
});

test('one batch walk per map per scrape, however many metrics (and the health metrics) read it', async (t) => {
  const big = tmpMap(t, { type: MapType.Hash, name: 'm75_walks', key: Key, value: Val, maxEntries: 64 });
  for (let i = 0; i < 40; i++) big.typed().set(key({ comm: `c${i}`, nr: i }), { count: 1n, bytes: 2n, level: 0n });
  const small = Array.from({ length: 5 }, (_, i) => {
    const m = tmpMap(t, { type: MapType.Hash, name: `m75_small${i}`, key: u32, value: u64, maxEntries: 32 });
    for (let k = 0; k < 20; k++) m.updateInt(k, k);
    return m;
  });
  const walks = new Map();
  const chunksOf = new Map();
  for (const [name, m] of [['big', big], ...small.map((m, i) => [`s${i}`, m])]) {
    const orig = m.chunks.bind(m);
    m.chunks = function* (opts) {
      walks.set(name, (walks.get(name) ?? 0) + 1);
      for (const c of orig(opts)) {
        chunksOf.set(name, (chunksOf.get(name) ?? 0) + 1);
        yield c;
      }
    };
  }
  const r = new Registry();
  const object = Object.fromEntries([['big', big], ...small.map((m, i) => [`s${i}`, m])]);
  register(
    t,
    r,
    {
      metrics: [
        {
          name: 'm75_w_a',
          type: 'counter',
          map: 'big',
          labels: [{ name: 'comm', field: 'comm', decoder: 'string' }],
          value: 'count',
        },
        { name: 'm75_w_b', type: 'gauge', map: 'big', labels: [{ name: 'nr', field: 'nr' }], value: 'bytes' },
        { name: 'm75_w_c', type: 'histogram', map: 'big', bucket: { type: 'exp2', field: 'nr', maxSlot: 6 }, value: 'count' },
        ...small.map((_, i) => ({ name: `m75_w_s${i}`, type: 'gauge', map: `s${i}`, labels: [{ name: 'k' }] })),
      ],
    },
    object,
  );
  const text = await r.metrics();
  assert.equal(family(text, 'm75_w_a').size, 40);
  assert.equal(samples(text).get('m75_w_c_count'), 40);
  assert.deepEqual(Object.fromEntries(walks), { big: 1, s0: 1, s1: 1, s2: 1, s3: 1, s4: 1 });
  assert.deepEqual(Object.fromEntries(chunksOf), { big: 1, s0: 1, s1: 1, s2: 1, s3: 1, s4: 1 }, 'a small map is one batch');
  await r.metrics();
  assert.equal(walks.get('big'), 2, 'the next scrape walks again');
});

test('config errors name the metric and the problem; nothing is registered', async (t) => {
  const map = tmpMap(t, { type: MapType.Hash, name: 'm75_cfg', key: Key, value: Val, maxEntries: 8 });
  const plain = tmpMap(t, { type: MapType.Hash, name: 'm75_cfg_plain', keySize: 4, valueSize: 8, maxEntries: 8 });
  const object = { m: map, p: plain };
  const ok = { name: 'm75_ok', type: 'counter', map: 'm', value: 'count' };
  const cases = [
    [{ ...ok, map: 'nope' }, /metric "m75_ok": unknown map "nope" \(the object has m, p\)/],
    [{ ...ok, map: 'id:4000000000' }, /metric "m75_ok": unknown map id:4000000000/],
    [
      { ...ok, map: 'pinned:/sys/fs/bpf/bpfmap_metrics_none' },
      /metric "m75_ok": unknown map pinned:\/sys\/fs\/bpf\/bpfmap_metrics_none/,
    ],
    [{ ...ok, map: 'name:m75_no_such' }, /metric "m75_ok": unknown map name:m75_no_such/],
    [
      { ...ok, labels: [{ name: 'c', field: 'comn', decoder: 'string' }] },
      /metric "m75_ok": label "c": unknown key field "comn" \(struct mkey has comm, nr/,
    ],
    [{ ...ok, value: 'cnt' }, /metric "m75_ok": value: unknown value field "cnt"/],
    [
      { ...ok, labels: [{ name: 'c', field: 'nr', decoder: 'string' }] },
      /metric "m75_ok": label "c": decoder string needs a char array; nr is u32/,
    ],
    [
      { ...ok, labels: [{ name: 'c', field: 'comm' }] },
      /metric "m75_ok": label "c": decoder uint needs an integer field; comm is char\[16\]/,
    ],
    [{ ...ok, labels: [{ name: 'c', field: 'nr', decoder: 'ksym' }] }, /decoder ksym needs a 64-bit address field; nr is u32/],
    [{ ...ok, labels: [{ name: 'c', field: 'v6', decoder: 'ipv4' }] }, /decoder ipv4 needs a 4-byte field/],
    [{ ...ok, labels: [{ name: 'c', field: 'nr', decoder: 'morse' }] }, /metric "m75_ok": label "c": unknown decoder "morse"/],
    [{ ...ok, map: 'p', labels: [{ name: 'c', field: 'nr' }] }, /metric "m75_ok": label "c": the map has no BTF for its key/],
    [{ ...ok, type: 'histogram' }, /metric "m75_ok": a histogram needs a bucket spec/],
    [{ ...ok, type: 'histogram', bucket: { type: 'log10' } }, /metric "m75_ok": bucket: type must be exp2, exp2zero or linear/],
    [{ ...ok, type: 'histogram', bucket: { type: 'linear', min: 0 } }, /metric "m75_ok": bucket: linear needs max/],
    [
      { ...ok, type: 'histogram', bucket: { type: 'exp2' } },
      /metric "m75_ok": bucket: without bucket.field the value field count must be an array/,
    ],
    [{ ...ok, type: 'summary' }, /metric "m75_ok": type must be counter, gauge or histogram/],
    [{ ...ok, name: '9bad' }, /metric "9bad": name must match/],
    [{ ...ok, perCpu: 'label' }, /metric "m75_ok": perCpu: label needs a per-CPU map/],
    [{ ...ok, labels: [{ name: 'le', field: 'nr' }] }, /metric "m75_ok": label "le": the exporter sets that label itself/],
    [{ ...ok, colour: 'red' }, /metric "m75_ok": unknown key "colour"/],
  ];
  for (const [metric, re] of cases) {
    const r = new Registry();
    assert.throws(
      () => registerMapMetrics(r, { metrics: [metric] }, { object: { maps: object }, ...quiet }),
      (err) => {
        assert.ok(err instanceof MetricsConfigError, `${err}`);
        assert.match(err.message, re);
        return true;
      },
    );
    assert.equal(await r.metrics(), '\n', `nothing registered after ${re}`);
  }
  assert.throws(
    () => registerMapMetrics(new Registry(), { metrics: [ok, ok] }, { object: { maps: object } }),
    /metric "m75_ok": the name is used twice/,
  );
  assert.throws(() => registerMapMetrics(new Registry(), { metrics: [ok] }), /unknown map "m": no object was given/);
  assert.throws(() => registerMapMetrics(new Registry(), { metrics: [] }), /metrics must be a non-empty list/);
  const two = (() => {
    try {
      registerMapMetrics(
        new Registry(),
        {
          metrics: [
            { ...ok, value: 'x' },
            { ...ok, name: 'm75_b', type: 'histogram' },
          ],
        },
        { object: { maps: object } },
      );
    } catch (err) {
      return err;
    }
  })();
  assert.deepEqual(two.problems.length, 2, 'every problem is reported at once');
});

test('a map closed under the metrics counts a scrape error, is logged once, and the other maps keep serving', async (t) => {
  const a = BpfMap.create({ type: MapType.Hash, name: 'm75_closed', key: u32, value: u64, maxEntries: 8 });
  t.after(() => a.close());
  const b = tmpMap(t, { type: MapType.Hash, name: 'm75_alive', key: u32, value: u64, maxEntries: 8 });
  a.updateInt(1, 1);
  b.updateInt(2, 2);
  const lines = [];
  const r = new Registry();
  register(
    t,
    r,
    {
      metrics: [
        { name: 'm75_a', type: 'gauge', map: 'a', labels: [{ name: 'k' }] },
        { name: 'm75_b', type: 'gauge', map: 'b', labels: [{ name: 'k' }] },
      ],
    },
    { a, b },
    { onProblem: (l) => lines.push(l) },
  );
  assert.equal(samples(await r.metrics()).get('m75_a{k="1"}'), 1);
  a.close();
  for (let i = 0; i < 3; i++) {
    b.updateInt(2, 10 + i);
    const s = samples(await r.metrics());
    assert.equal(s.get('m75_a{k="1"}'), undefined);
    assert.equal(s.get('m75_b{k="2"}'), 10 + i);
    assert.equal(s.get('bpfmap_scrape_errors_total{map="a"}'), i + 1);
    assert.equal(s.get('bpfmap_scrape_errors_total{map="b"}'), 0);
    assert.equal(s.get('bpfmap_map_entries{map="a"}'), undefined);
  }
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /^map a: .*EBADF/);
});

test('a pinned: map is followed through the pin: replaced, unpinned (reported, series dropped), pinned again', async (t) => {
  const path = pinPath(t, 'm75_follow');
  const K = defineStruct('fkey', { port: u32 });
  const first = tmpMap(t, { type: MapType.Hash, name: 'm75_pin1', key: K, value: u64, maxEntries: 8 });
  first.typed().set({ port: 80 }, 1n);
  first.pin(path);
  const lines = [];
  const r = new Registry();
  register(
    t,
    r,
    { metrics: [{ name: 'm75_port', type: 'gauge', map: `pinned:${path}`, labels: [{ name: 'port', field: 'port' }] }] },
    {},
    {
      onProblem: (l) => lines.push(l),
    },
  );
  assert.equal(samples(await r.metrics()).get('m75_port{port="80"}'), 1);
  const second = tmpMap(t, { type: MapType.Hash, name: 'm75_pin2', key: K, value: u64, maxEntries: 16 });
  second.typed().set({ port: 443 }, 2n);
  first.unpin(path);
  assert.equal(samples(await r.metrics()).get('m75_port{port="80"}'), undefined);
  assert.equal(samples(await r.metrics()).get(`bpfmap_scrape_errors_total{map="pinned:${path}"}`), 2);
  second.pin(path);
  const s = samples(await r.metrics());
  assert.equal(s.get('m75_port{port="443"}'), 2, 'the map now pinned there is read');
  assert.equal(s.get(`bpfmap_map_max_entries{map="pinned:${path}"}`), 16);
  assert.deepEqual(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /nothing is pinned there/);
  assert.match(lines[1], /readable again/);
});

test('bench/metrics.mjs runs at a small size (so it cannot rot): every sample present, the heap measured per scrape', async () => {
  const { metricsScrape } = await import('../bench/metrics.mjs');
  const r = await metricsScrape(2000, 3);
  assert.equal(r.n, 2000);
  assert.equal(r.heapMiB.length, 3);
  for (const x of [r.scrapeMs, r.cpuMs, r.readMs, r.promClientAloneMs]) assert.ok(Number.isFinite(x) && x > 0, String(x));
  assert.ok(r.bytes > 2000 * 30);
});

test("examples/metrics/syscalls.yaml fits the example object: its map names and fields, with clang's BTF", async (t) => {
  // The object loader is not used here: bpftool loads the object and pins its maps, and those maps
  // are handed over by their C names, as a loaded object's `maps` would be.
  const YAML = createRequire(import.meta.url)('yaml');
  const example = fileURLToPath(new URL('../examples/metrics/', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-example-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = join(dir, 'syscalls.bpf.o');
  const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(example, 'syscalls.bpf.c'), '-o', obj]);
  ensureBpffs();
  const pins = join(BPFFS, `bpfmap_metrics_${process.pid}_yaml`);
  mkdirSync(pins, { recursive: true });
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'pinmaps', join(pins, 'maps')], { stdio: 'ignore' });
  const config = YAML.parse(readFileSync(join(example, 'syscalls.yaml'), 'utf8'));
  assert.equal(config.object, './syscalls.bpf.o');
  const { object: _o, variables: _v, ...metricsOnly } = config;
  const maps = {};
  for (const name of ['syscall_counts', 'latency']) {
    maps[name] = BpfMap.openPinned(join(pins, 'maps', name));
    t.after(() => maps[name].close());
  }
  const Comm = defineStruct('comm_key', { comm: cstring(16), nr: u32 });
  maps.syscall_counts.update(Comm.encode({ comm: 'sshd', nr: 0 }), u64.encode(3n));
  const r = new Registry();
  register(t, r, metricsOnly, maps);
  const text = await r.metrics();
  assert.equal(samples(text).get('syscalls_total{comm="sshd",syscall="read"}'), 3);
  assert.equal(samples(text).get('syscall_latency_seconds_count'), 0);
  assert.equal(samples(text).get('syscall_latency_seconds_sum'), 0);
  assert.equal(family(text, 'syscall_latency_seconds').size, 32 + 1 + 2, '32 slots, +Inf, _sum, _count');
});
