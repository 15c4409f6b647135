// The public types: test/types/*.ts must compile against the built declarations, with every
// @ts-expect-error used, under TypeScript 5.9 and 7; and a user's project with default settings
// (no @types/node, default lib) compiles a file that imports bpfmap.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compilers, consumerProject, initConfig, root, tsc } from './helpers/tsc.mjs';

for (const [label, script] of compilers) {
  test(`the type-level tests compile with ${label}`, () => {
    const r = tsc(script, ['-p', 'test/types/tsconfig.json'], root);
    assert.equal(r.status, 0, r.output);
  });
}

const USE = `import { BpfMap, MapType, type UpdateValue, defineStruct, u32 } from 'bpfmap';
const stats = defineStruct('stats', { packets: 'u64', drops: 'u32' });
export function total(): bigint {
  using m = BpfMap.create({ type: MapType.Hash, key: u32, value: stats, maxEntries: 1 });
  m.typed().set(1, { packets: 1n, drops: 0 });
  const v: UpdateValue = m;
  void v;
  return m.typed().get(1)?.packets ?? 0n;
}
`;

const configs = [
  ['tsc --init defaults (target esnext, types [])', initConfig],
  ['strict, target es2022, default lib', { compilerOptions: { strict: true, module: 'nodenext', target: 'es2022' } }],
  ['strict, no target, no types', { compilerOptions: { strict: true, module: 'nodenext', types: [] } }],
];

for (const [name, config] of configs) {
  test(`a consumer project without @types/node compiles an import of bpfmap: ${name}`, () => {
    const dir = consumerProject(config);
    try {
      writeFileSync(join(dir, 'index.ts'), USE);
      for (const [label, script] of compilers) {
        const r = tsc(script, ['-p', '.', '--noEmit'], dir);
        assert.equal(r.status, 0, `${label}:\n${r.output}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
