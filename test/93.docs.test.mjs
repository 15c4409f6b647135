// `npm run docs`: TypeDoc builds the API reference from src/index.ts with warnings as errors
// (broken links, exports that reference unexported types), and it covers the public names.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
      'classes/BpfMap.html',
      'classes/TypedMap.html',
      'functions/bpfMapCreate.html',
      'functions/defineStruct.html',
    ])
      assert.ok(existsSync(join(out, page)), `${page} is in the reference`);
    assert.match(readFileSync(join(out, 'classes/BpfMap.html'), 'utf8'), /typed/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
