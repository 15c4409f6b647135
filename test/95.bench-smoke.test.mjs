// `npm run bench` with tiny sizes, so the benchmark cannot rot. It asserts the report's shape and
// that both sides measured every operation; speed itself is judged by `npm run bench`, not here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

test('the benchmark runs end to end at smoke size and writes its JSON summary', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-bench-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'bench.json');
  const text = execFileSync(process.execPath, ['bench/run.mjs', '--smoke', '--out', out], { encoding: 'utf8' });
  assert.match(text, /hash\.lookup\s+\d+\s+\d+\s+\d+\.\d\d/);
  const s = JSON.parse(readFileSync(out, 'utf8'));
  const ops = s.rows.map((r) => r.op);
  for (const op of [
    'hash.update',
    'hash.lookup',
    'hash.delete',
    'hash.iterate.batch',
    'hash.iterate.getNextKey',
    'struct.lookup',
    'array.lookup',
    'percpuArray.lookup',
  ])
    assert.ok(ops.includes(op), `${op} measured`);
  for (const r of s.rows) {
    assert.ok(r.libNs > 0 && r.cNs > 0, `${r.op}: both sides measured`);
    assert.equal(s.raw.ratios[r.op].length, s.params.rounds, `${r.op}: one ratio per round`);
    assert.ok(r.ratio > 0 && Number.isFinite(r.ratio));
  }
  assert.equal(s.memory.entries, 20_000);
  assert.ok(s.memory.rssGrowthMiB < 64);
  assert.ok(s.batchVsGetNextKey > 0);
  assert.deepEqual(
    s.cliDump.map((r) => r.op),
    ['cli.dump.u32→u64', 'cli.dump.struct(btf)', 'cli.dump.percpu'],
  );
  for (const r of s.cliDump) assert.ok(r.cliMs > 0 && r.bpftoolMs > 0 && r.ratio > 0 && r.cliPeakRssMiB > 0, r.op);
  assert.match(text, /cli\.dump\.percpu\s+\d+\s+\d+\s+\d+\.\d\d/);
});
