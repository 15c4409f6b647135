// `bpfmap export` as a real process scraped by a real Prometheus server (Debian's package, started
// here on 127.0.0.1 with a 1 s scrape interval and its own storage): the example program
// (examples/metrics, built with clang, loaded and its maps pinned by bpftool) and maps made here
// with BTF, filled from userspace; values, labels, bucket bounds and sums in Prometheus's query
// API; changes seen at the next scrape; per-CPU sums; a map unpinned under the exporter; config
// errors; a clean stop on SIGTERM.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfMap, MapType, array, cstring, defineStruct, possibleCpus, u32, u64 } from 'bpfmap';
import { startPrometheus, value } from './75.metrics-helpers.mjs';
import { BPFFS, bpftool, ensureBpffs } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/metrics/', import.meta.url));

function buildExample(dir) {
  const obj = join(dir, 'syscalls.bpf.o');
  const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(EXAMPLE, 'syscalls.bpf.c'), '-o', obj]);
  return obj;
}

/** Starts `bpfmap export`; resolves once it serves, with its port, its stderr lines and stop(). */
async function startExporter(t, config) {
  const proc = spawn(process.execPath, [BIN, 'export', '--config', config, '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines = [];
  let buf = '';
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  t.after(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const port = await new Promise((ok, no) => {
    proc.stderr.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        const m = /serving .* at http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(line);
        if (m) ok(Number(m[1]));
      }
    });
    exited.then((e) => no(new Error(`exporter exited (${JSON.stringify(e)}): ${lines.join('\n')}${buf}`)));
  });
  return {
    port,
    pid: proc.pid,
    lines,
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

const Comm = defineStruct('comm_key', { comm: cstring(16), nr: u32 });
const Hist = defineStruct('hist', { slots: array('u64', 32), sum_ns: u64 });
const Flow = defineStruct('flow', { saddr: array('u8', 4), dport: u32 });

test('bpfmap export feeds a real Prometheus: the example program and BTF maps, read at every scrape', async (t) => {
  ensureBpffs();
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-export-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = buildExample(dir);
  const pins = join(BPFFS, `bpfmap_metrics_${process.pid}`);
  mkdirSync(pins, { recursive: true });
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'pinmaps', join(pins, 'maps')], { stdio: 'ignore' });

  // Maps of our own, with BTF from codecs: per-CPU flows, and one to unpin under the exporter.
  const n = possibleCpus();
  const flows = BpfMap.create({ type: MapType.PercpuHash, name: 'm75_flows', key: Flow, value: u64, maxEntries: 64 });
  t.after(() => flows.close());
  flows.pin(join(pins, 'flows'));
  const victim = BpfMap.create({ type: MapType.Hash, name: 'm75_victim', key: u32, value: u64, maxEntries: 8 });
  t.after(() => victim.close());
  victim.pin(join(pins, 'victim'));
  victim.updateInt(1, 77);

  const example = readFileSync(join(EXAMPLE, 'syscalls-pinned.yaml'), 'utf8').replaceAll('/sys/fs/bpf/bpfmap_example', pins);
  const config = join(dir, 'export.yaml');
  writeFileSync(
    config,
    `${example}
  - name: m75_flow_packets_total
    type: counter
    map: pinned:${pins}/flows
    labels:
      - { name: src, field: saddr, decoder: ipv4 }
      - { name: port, field: dport }
  - name: m75_victim
    type: gauge
    map: pinned:${pins}/victim
    labels: [{ name: k }]
`,
  );
  const counts = BpfMap.openPinned(join(pins, 'maps', 'syscall_counts'));
  t.after(() => counts.close());
  const latency = BpfMap.openPinned(join(pins, 'maps', 'latency'));
  t.after(() => latency.close());
  const setCount = (comm, nr, v) => counts.update(Comm.encode({ comm, nr }), u64.encode(BigInt(v)));
  setCount('bash', 1, 5);
  setCount('node', 0, 9);
  const slots = new Array(32).fill(0n);
  slots[3] = 2n; // [4, 8) ns
  slots[10] = 5n; // [512, 1024) ns
  latency.update(u32.encode(0), Hist.encode({ slots, sum_ns: 4000n }));
  flows.update(
    Flow.encode({ saddr: [10, 0, 0, 1], dport: 443 }),
    Array.from({ length: n }, (_, c) => u64.encode(BigInt(10 * (c + 1)))),
  );

  const exporter = await startExporter(t, config);
  const prom = await startPrometheus(t, [`127.0.0.1:${exporter.port}`]);
  const num = (expr, want) => prom.until(expr, (r) => value(r) === want, `${expr} == ${want}`);

  // Labels decoded from the clang-built object's BTF (char comm[16], __u32 nr → syscall name).
  await num('syscalls_total{comm="bash",syscall="write"}', 5);
  await num('syscalls_total{comm="node",syscall="read"}', 9);
  // Histogram: cumulative buckets at 2^i ns in seconds, +Inf, _count, _sum scaled by the multiplier.
  const buckets = await prom.until('syscall_latency_seconds_bucket', (r) => r.length === 33, '33 latency buckets');
  const byLe = new Map(
    buckets.map((s) => [s.metric.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.metric.le), Number(s.value[1])]),
  );
  assert.equal(byLe.get(4e-9), 0);
  assert.equal(byLe.get(8e-9), 2);
  assert.equal(byLe.get(512e-9), 2);
  assert.equal(byLe.get(1024e-9), 7);
  assert.equal(byLe.get(2 ** 31 * 1e-9), 7);
  assert.equal(byLe.get(Number.POSITIVE_INFINITY), 7);
  assert.equal(value(await prom.query('syscall_latency_seconds_count')), 7);
  assert.ok(Math.abs(value(await prom.query('syscall_latency_seconds_sum')) - 4e-6) < 1e-15);
  // Per-CPU values summed; an IPv4 label from a u8[4] field.
  await num('m75_flow_packets_total{src="10.0.0.1",port="443"}', (10 * n * (n + 1)) / 2);
  await num('bpfmap_map_entries{map="pinned:' + pins + '/maps/syscall_counts"}', 2);
  await num('bpfmap_map_max_entries{map="pinned:' + pins + '/maps/syscall_counts"}', 10240);
  await num('m75_victim{k="1"}', 77);

  // The next scrapes see changes.
  setCount('bash', 1, 50);
  slots[10] = 6n;
  latency.update(u32.encode(0), Hist.encode({ slots, sum_ns: 5000n }));
  await num('syscalls_total{comm="bash",syscall="write"}', 50);
  await num('syscall_latency_seconds_count', 8);

  // Unpinned under the exporter: its series go stale, the error counter rises, the rest is served.
  victim.unpin(join(pins, 'victim'));
  await prom.until('m75_victim', (r) => r.length === 0, 'the unpinned map leaves Prometheus');
  await prom.until(`bpfmap_scrape_errors_total{map="pinned:${pins}/victim"}`, (r) => value(r) >= 2, 'scrape errors counted');
  setCount('node', 0, 10);
  await num('syscalls_total{comm="node",syscall="read"}', 10);
  assert.equal(value(await prom.query(`bpfmap_scrape_errors_total{map="pinned:${pins}/maps/syscall_counts"}`)), 0);
  const about = exporter.lines.filter((l) => l.includes('victim'));
  assert.equal(about.length, 1, exporter.lines.join('\n'));
  assert.match(about[0], /^bpfmap export: map pinned:.*victim: unknown map .*nothing is pinned there/);

  const page = await (await fetch(`http://127.0.0.1:${exporter.port}/`)).text();
  for (const name of ['syscalls_total', 'syscall_latency_seconds', 'm75_flow_packets_total'])
    assert.ok(page.includes(name), page);
  assert.equal((await fetch(`http://127.0.0.1:${exporter.port}/nope`)).status, 404);

  const end = await exporter.stop();
  assert.deepEqual(end, { code: 0, signal: null }, exporter.lines.join('\n'));
  assert.match(exporter.lines.at(-1), /SIGTERM: stopping/);
});

function exportCli(...args) {
  const r = spawnSync(process.execPath, [BIN, 'export', ...args], { encoding: 'utf8', timeout: 20000 });
  return { code: r.status, err: r.stderr };
}

test('bpfmap export: config errors exit 1 with one line per problem; usage errors exit 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name, text) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const victim = BpfMap.create({ type: MapType.Hash, name: 'm75_cli_cfg', key: Comm, value: u64, maxEntries: 8 });
  t.after(() => victim.close());
  const bad = file(
    'bad.yaml',
    `metrics:
  - { name: a_total, type: counter, map: "id:${victim.id}", labels: [{ name: c, field: comn, decoder: string }] }
  - { name: b_total, type: counter, map: "id:${victim.id}", labels: [{ name: c, field: nr, decoder: ipv6 }] }
  - { name: c_seconds, type: histogram, map: "id:${victim.id}" }
  - { name: d_total, type: counter, map: "pinned:/sys/fs/bpf/bpfmap_metrics_${process.pid}_none" }
`,
  );
  const r = exportCli('--config', bad);
  assert.equal(r.code, 1, r.err);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 4, r.err);
  assert.match(lines[0], /^bpfmap export: metric "c_seconds": a histogram needs a bucket spec/);
  assert.match(r.err, /metric "a_total": label "c": unknown key field "comn" \(struct comm_key has comm, nr\)/);
  assert.match(r.err, /metric "b_total": label "c": decoder ipv6 needs a 16-byte field/);
  assert.match(r.err, /metric "d_total": unknown map pinned:.*nothing is pinned there/);

  assert.match(exportCli('--config', file('y.yaml', 'metrics: [')).err, /not valid YAML/);
  assert.equal(exportCli('--config', file('y2.yaml', 'metrics: [')).code, 1);
  const json = exportCli('--config', file('c.json', JSON.stringify({ metrics: [{ name: 'x', type: 'gauge', map: 'counts' }] })));
  assert.equal(json.code, 1);
  assert.match(json.err, /metric "x": unknown map "counts": no object was given/);
  assert.equal(exportCli().code, 2);
  assert.match(exportCli().err, /--config FILE is required/);
  assert.equal(exportCli('--config', bad, '--listen', 'nowhere').code, 2);

  const withObject = exportCli(
    '--config',
    file('o.yaml', 'object: ./missing.bpf.o\nmetrics: [{ name: x, type: gauge, map: counts }]\n'),
  );
  assert.equal(withObject.code, 1);
  assert.match(withObject.err, /^bpfmap export: .*missing\.bpf\.o/);
});

test('bpfmap export: a port already in use is one line and exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-port-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const m = BpfMap.create({ type: MapType.Array, name: 'm75_port', key: u32, value: u64, maxEntries: 1 });
  t.after(() => m.close());
  const cfg = join(dir, 'c.yaml');
  writeFileSync(cfg, `metrics: [{ name: m75_port_value, type: gauge, map: "id:${m.id}" }]\n`);
  const first = await startExporter(t, cfg);
  const r = exportCli('--config', cfg, '--listen', `127.0.0.1:${first.port}`);
  assert.equal(r.code, 1);
  assert.match(r.err, /^bpfmap export: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  const text = await (await fetch(`http://127.0.0.1:${first.port}/metrics`)).text();
  assert.match(text, /\nm75_port_value 0\n/);
  assert.deepEqual(await first.stop(), { code: 0, signal: null });
});

test("bpfmap export with the example config: loads and attaches the object, Prometheus sees one process's syscalls, SIGTERM detaches", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-object-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  buildExample(dir);
  // A process making getppid(2) calls: the only one the program counts (target_pid, set before load).
  const child = spawn(process.execPath, ['-e', 'setInterval(() => { for (let i = 0; i < 50; i++) process.ppid; }, 20)'], {
    stdio: 'ignore',
  });
  t.after(() => child.kill('SIGKILL'));
  const config = readFileSync(join(EXAMPLE, 'syscalls.yaml'), 'utf8').replace(
    /^variables: \{ target_pid: 0 \}/m,
    `variables: { target_pid: ${child.pid} }`,
  );
  assert.match(config, new RegExp(`target_pid: ${child.pid}`), 'the example config sets target_pid');
  writeFileSync(join(dir, 'syscalls.yaml'), config);
  const exporter = await startExporter(t, join(dir, 'syscalls.yaml'));
  // The exporter's own links, from its fdinfo (other processes may run the same example at once).
  const linkIds = readdirSync(`/proc/${exporter.pid}/fdinfo`)
    .map((fd) => readFileSync(`/proc/${exporter.pid}/fdinfo/${fd}`, 'utf8'))
    .map((info) => /^link_id:\s+(\d+)$/m.exec(info))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]));
  const progNames = new Map(bpftool('prog', 'show').map((p) => [p.id, p.name]));
  const ours = () => bpftool('link', 'show').filter((l) => linkIds.includes(l.id));
  assert.deepEqual(
    ours()
      .map((l) => progNames.get(l.prog_id))
      .sort(),
    ['count_enter', 'time_exit'],
    'the exporter holds one link per tracepoint program',
  );
  const prom = await startPrometheus(t, [`127.0.0.1:${exporter.port}`]);
  const getppid = await prom.until(
    'syscalls_total{syscall="getppid"}',
    (r) => r.length === 1 && Number(r[0].value[1]) > 0,
    'getppid calls counted',
  );
  assert.equal(getppid[0].metric.comm, 'node');
  // Only the target process is counted: every series is node's.
  const all = await prom.query('syscalls_total');
  assert.ok(all.length >= 1);
  for (const s of all) assert.equal(s.metric.comm, 'node', JSON.stringify(s.metric));
  await prom.until('syscall_latency_seconds_count', (r) => value(r) > 0, 'latencies observed');
  const inf = await prom.query('syscall_latency_seconds_bucket{le="+Inf"}');
  const count = await prom.query('syscall_latency_seconds_count');
  assert.equal(value(inf), value(count), 'the +Inf bucket holds every observation');
  assert.deepEqual(await exporter.stop(), { code: 0, signal: null });
  assert.equal(ours().length, 0, 'SIGTERM detached both programs');
});
