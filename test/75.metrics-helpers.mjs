// Helpers of the metrics tests (75.*): prom-client's text exposition parsed into samples, a free
// port, and a real Prometheus server (Debian's package) on 127.0.0.1 with its own storage.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Text exposition → Map of `name{a="x",b="y"}` (labels as written) → value. */
export function samples(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** The samples of metric family `name` (its own lines, `_bucket`/`_sum`/`_count` included). */
export function family(text, name) {
  return new Map([...samples(text)].filter(([k]) => k === name || k.startsWith(`${name}{`) || k.startsWith(`${name}_`)));
}

/** A TCP port nobody listens on now. */
export function freePort() {
  return new Promise((ok, no) => {
    const s = createServer();
    s.once('error', no);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts Prometheus scraping `targets` (host:port) every second; stopped when `t` ends.
 * Returns `{ query(expr) → result[], until(expr, pred, what) }`.
 */
export async function startPrometheus(t, targets) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-metrics-prom-'));
  const port = await freePort();
  const cfg = join(dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: bpfmap',
      `    static_configs: [{ targets: [${targets.map((x) => `'${x}'`).join(', ')}] }]`,
      '',
    ].join('\n'),
  );
  const proc = spawn(
    'prometheus',
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  proc.stderr.on('data', (d) => {
    log += d;
  });
  t.after(async () => {
    if (proc.exitCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/-/ready`)).ok) break;
    } catch {}
    if (proc.exitCode !== null || i > 300) assert.fail(`prometheus did not start: ${log}`);
    await sleep(100);
  }
  const query = async (expr) => {
    const r = await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`)).json();
    assert.equal(r.status, 'success', JSON.stringify(r));
    return r.data.result;
  };
  /** Polls `expr` until `pred(result)` holds (20 s at most). */
  const until = async (expr, pred, what = expr) => {
    let last;
    for (let i = 0; i < 200; i++) {
      last = await query(expr);
      if (pred(last)) return last;
      await sleep(100);
    }
    assert.fail(`${what}: never true; last result ${JSON.stringify(last)}\nprometheus log: ${log.slice(-2000)}`);
  };
  return { query, until, base };
}

/** The single value of a query result as a number (NaN when empty). */
export const value = (result) => (result.length === 1 ? Number(result[0].value[1]) : Number.NaN);
