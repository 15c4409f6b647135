// Imports point down the layers of scripts/layers.mjs: every relative import of src/**/*.ts is checked
// against the table, only sys/ loads the addon, and docs/architecture.md draws the same table.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAYERS, bareErrnos, breaches, documented, importsOf, layerOf, mermaid, sources, src } from '../scripts/layers.mjs';

test('every import of src/ points where its layer may look (scripts/layers.mjs)', () => {
  const files = sources(src);
  assert.ok(files.length > 40, 'the test sees the sources');
  assert.deepEqual(breaches(files), []);
});

test('the table reads imports the way TypeScript writes them, including type-only and dynamic ones', () => {
  const imps = importsOf(join(src, 'map/map.ts'));
  assert.ok(
    importsOf(join(src, 'map/options.ts')).some((i) => i.target === 'prog/program.ts' && i.typeOnly),
    'map/options.ts imports BpfProgram for types only',
  );
  assert.ok(imps.some((i) => i.target === 'sys/bpf.ts' && !i.typeOnly));
  const cli = sources(join(src, 'cli')).flatMap(importsOf);
  assert.ok(
    cli.length > 10 && cli.every((i) => i.target.startsWith('cli/') || i.target === 'index.ts'),
    'cli/ imports only index.ts',
  );
  assert.equal(layerOf('sys/ids.ts'), 'sys');
  assert.equal(layerOf('elf/reader.ts'), 'elf');
  assert.equal(layerOf('testing.ts'), 'testing');
  assert.equal(layerOf('newfolder/x.ts'), undefined);
});

test('a layer may not import a layer above it, nor one it is not given', () => {
  // Every pair the table forbids, so that a change to the table that loosens it shows here.
  const names = Object.keys(LAYERS);
  const forbidden = names.flatMap((a) =>
    names.filter((b) => b !== a && (b !== 'base' || LAYERS[a].sealed) && !LAYERS[a].may.includes(b)).map((b) => `${a}->${b}`),
  );
  for (const edge of [
    'sys->map',
    'sys->codec',
    'elf->sys',
    'cli->map',
    'cli->sys',
    'metrics->map',
    'metrics->entry',
    'testing->map',
    'map->readers',
    'map->libbpf',
    'codec->btf',
    'cli->base',
  ])
    assert.ok(forbidden.includes(edge), `${edge} is forbidden`);
  // The allowed graph has no cycle: "down" means something.
  const seen = new Map();
  const visit = (n, path) => {
    if (seen.get(n) === 'done') return;
    assert.notEqual(seen.get(n), 'open', `cycle: ${[...path, n].join(' -> ')}`);
    seen.set(n, 'open');
    for (const m of LAYERS[n].may) visit(m, [...path, n]);
    seen.set(n, 'done');
  };
  for (const n of names) visit(n, []);
});

test('docs/architecture.md draws the layer table (node scripts/layers.mjs --write after changing it)', () => {
  assert.equal(documented(), mermaid());
});

test('every errno in src/ is written by name, never as a bare number (scripts/layers.mjs --check)', () => {
  assert.deepEqual(bareErrnos(), []);
});

test('the bare-errno check sees comparisons and BpfError arguments, not comments, strings or zero', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-errno-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'x.ts');
  writeFileSync(
    file,
    [
      'if (errno === 22) x();', // 1
      'if (-r !== 2) x();', // 2
      "throw new BpfError('BPF_LINK_CREATE', 9, { hint: 'closed' });", // 3
      "const h = code === 13 || code === 1 ? 'root' : '';", // 4
      'if (r === -11) again();', // 5
      'if (r < 0 || ret === 0) x();',
      "// errno === 22 in a comment\nconst s = 'errno === 22';",
      "if (errnoName(-r) === 'EINVAL') x();",
    ].join('\n'),
  );
  const lines = bareErrnos([file]).map((f) => Number(f.split(':')[1]));
  assert.deepEqual(lines, [1, 2, 3, 4, 5]);
});

test('a side-effect import (import "./x.js") is read as an import too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-layers-'));
  try {
    const f = join(dir, 'side.ts');
    writeFileSync(f, "import '../sys/cpu.js';\n// import './not-an-import.js';\n");
    assert.deepEqual(
      importsOf(f).map((i) => i.spec),
      ['../sys/cpu.js'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
