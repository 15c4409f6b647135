// `npm run docs`: TypeDoc builds the API reference from src/index.ts with warnings as errors
// (broken links, exports that reference unexported types, exports with no doc comment), it covers the
// public names, and it shows the first kernel version (`@kernel`) of the map types and commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { root } from './helpers/tsc.mjs';

test('typedoc builds the API reference with no warnings', () => {
  const out = mkdtempSync(join(tmpdir(), 'bpfmap-docs-'));
  try {
    const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
    const r = spawnSync(process.execPath, [typedoc, '--out', out], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /\[warning\]/);
    for (const page of [
      'classes/bpfmap.BpfMap.html',
      'classes/bpfmap.TypedMap.html',
      'functions/bpfmap.bpfMapCreate.html',
      'functions/bpfmap.defineStruct.html',
      'classes/bpfmap_testing.FakeMap.html',
    ])
      assert.ok(existsSync(join(out, page)), `${page} is in the reference`);
    assert.match(readFileSync(join(out, 'classes/bpfmap.BpfMap.html'), 'utf8'), /typed/);
    // The @kernel tag renders as a "Kernel" section: MapType.Ringbuf came with 5.8, batch lookups with 5.6.
    const text = (page) =>
      readFileSync(join(out, page), 'utf8')
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ');
    assert.match(text('enums/bpfmap.MapType.html'), /BPF_MAP_TYPE_RINGBUF \. Kernel 5\.8 /);
    assert.match(text('enums/bpfmap.MapType.html'), /BPF_MAP_TYPE_HASH \. Kernel 3\.19 /);
    assert.match(text('classes/bpfmap.BpfMap.html'), /Kernel 5\.6 /);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('an export without a doc comment fails npm run docs (validation.notDocumented is on)', () => {
  const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8'));
  assert.equal(config.validation.notDocumented, true);
  assert.equal(config.treatWarningsAsErrors, true);
  assert.ok(config.blockTags.includes('@kernel'), 'typedoc.json declares the @kernel tag');
  // A copy of the sources where lpmKey lost its doc comment: typedoc must refuse it and name it.
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-docs-undoc-'));
  try {
    for (const f of ['src', 'tsconfig.json', 'typedoc.json', 'package.json'])
      cpSync(join(root, f), join(dir, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const lpm = join(dir, 'src/codec/lpm.ts');
    const before = readFileSync(lpm, 'utf8');
    const after = before.replace(/\/\*\*(?:(?!\*\/)[\s\S])*\*\/\s*(?=export function lpmKey)/, '');
    assert.notEqual(after, before, 'the test removed the comment');
    writeFileSync(lpm, after);
    const typedoc = join(root, 'node_modules/typedoc/bin/typedoc');
    const r = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    assert.notEqual(r.status, 0, 'typedoc accepted an undocumented export');
    assert.match(r.stdout + r.stderr, /lpmKey.*does not have any documentation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
