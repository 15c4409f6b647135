// Every ```js and ```ts block of README.md runs as written, top to bottom, twice, leaving no pins:
// js blocks with node against the built package; ts blocks type-checked in strict mode under
// TypeScript 5.9 and 7, compiled, and run. Failures name the block's line in README.md.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compilers, consumerProject, root, tsc } from './helpers/tsc.mjs';

/** The fenced blocks of a Markdown text: { lang, line (1-based, of the opening fence), code }. */
export function codeBlocks(text) {
  const out = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    out.push({ lang: open[1], line: start + 1, code: `${body.join('\n')}\n` });
  }
  return out;
}

const blocks = codeBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
/** The bpffs paths a block names that exist now (other tests may pin their own paths meanwhile). */
const leftPins = (code) => [...code.matchAll(/\/sys\/fs\/bpf\/[\w.-]+/g)].map((m) => m[0]).filter((p) => existsSync(p));

test('README.md has js and ts blocks, and every block names its language', () => {
  assert.ok(blocks.some((b) => b.lang === 'js'));
  assert.ok(blocks.some((b) => b.lang === 'ts'));
  for (const b of blocks) assert.notEqual(b.lang, '', `README.md:${b.line}: a code block without a language`);
});

function run(file, cwd, where) {
  for (const round of [1, 2]) {
    const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${where} (run ${round}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
  }
}

test('every js block runs with node, twice, and leaves no pins behind', () => {
  const dir = consumerProject({});
  try {
    for (const b of blocks.filter((x) => x.lang === 'js')) {
      const where = `README.md:${b.line}`;
      const file = join(dir, `block-${b.line}.mjs`);
      writeFileSync(file, b.code);
      run(file, dir, where);
      assert.deepEqual(leftPins(b.code), [], `${where} left pins behind`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const strict = {
  compilerOptions: {
    module: 'nodenext',
    target: 'es2022', // `using` is compiled to try/finally, so the output runs on Node 20
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    types: [],
    skipLibCheck: false,
  },
};

for (const [label, script] of compilers) {
  test(`every ts block type-checks in strict mode with ${label}, compiles, and runs twice`, () => {
    const dir = consumerProject(strict);
    try {
      const ts = blocks.filter((x) => x.lang === 'ts');
      for (const b of ts) {
        const sub = join(dir, `block-${b.line}`);
        mkdirSync(sub);
        writeFileSync(join(sub, 'index.ts'), b.code);
        writeFileSync(join(sub, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', include: ['index.ts'] }));
        const c = tsc(script, ['-p', sub, '--outDir', join(sub, 'out')], dir);
        assert.equal(c.status, 0, `README.md:${b.line} does not compile with ${label}:\n${c.output}`);
        run(join(sub, 'out/index.js'), dir, `README.md:${b.line} (${label})`);
        assert.deepEqual(leftPins(b.code), [], `README.md:${b.line} left pins behind`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
