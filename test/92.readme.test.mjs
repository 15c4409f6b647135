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

// The CLI examples, against the maps the README says they use: `flows` (the codecs example's
// map: flow_key → stats, with BTF) and `counts`, created by the example itself. `name flows` is
// run as `id N` (other tests may have maps of that name at the same time), the counts pin gets a
// path of this test's own, and `watch` (interactive) is left to the watch tests.
test("the README's CLI examples and the help's JSON key example work on the README's maps", async () => {
  const { BpfMap, MapType, cstring, defineStruct } = await import('bpfmap');
  const flowKey = defineStruct('flow_key', { src: 'be32', dst: 'be32', port: 'be16', proto: 'u8' });
  const stats = defineStruct('stats', { packets: 'u64', drops: 'u32', comm: cstring(16) });
  const flows = BpfMap.create({ type: MapType.Hash, name: 'flows', key: flowKey, value: stats, maxEntries: 4096 });
  const counts = `/sys/fs/bpf/bpfmap_test_${process.pid}_readme_counts`;
  const bin = join(root, 'dist/cli/bin.js');
  const sh = (line) =>
    spawnSync('sh', ['-c', line.replace(/^(npx )?bpfmap /, `"${process.execPath}" "${bin}" `)], { encoding: 'utf8' });
  try {
    const cli = blocks.find((b) => b.lang === 'sh' && b.code.includes('bpfmap list'));
    assert.ok(cli, 'README.md has a sh block of bpfmap examples');
    const lines = cli.code.split('\n').filter((l) => /^(npx )?bpfmap /.test(l) && !/ watch /.test(l));
    assert.ok(lines.length >= 6);
    for (const [i, line] of lines.entries()) {
      const cmd = line.replaceAll('name flows', `id ${flows.id}`).replaceAll('/sys/fs/bpf/counts', counts);
      const r = sh(cmd);
      assert.equal(
        r.status,
        0,
        `README.md:${cli.line + 1 + cli.code.split('\n').indexOf(line)}: ${line}\n${r.stdout}${r.stderr}`,
      );
      if (i === 0) assert.match(r.stdout, /flows/);
    }
    const got = flows.typed().get({ src: 167772161, dst: 167772162, port: 443, proto: 6 });
    assert.deepEqual(got, { packets: 1n, drops: 0, comm: 'curl' });
    const shown = JSON.parse(
      sh(`bpfmap lookup id ${flows.id} --key '{"src": 167772161, "dst": 167772162, "port": 443, "proto": 6}' --json --pretty`)
        .stdout,
    );
    assert.deepEqual(shown.formatted.value, { packets: 1, drops: 0, comm: 'curl' });

    const help = sh('bpfmap lookup --help').stdout;
    assert.match(help, /--pretty/);
    assert.match(sh('bpfmap --help').stdout, /--pretty/);
    const example = help.split('\n').find((l) => l.includes("--key '{"));
    assert.ok(example, help);
    const r = sh(example.trim().replace('id 42', `id ${flows.id}`));
    assert.equal(r.status, 0, `${example}\n${r.stdout}${r.stderr}`);

    // Usage errors: exit 2, the reason and then the usage, as the README says.
    const u = sh('bpfmap dump');
    assert.equal(u.status, 2);
    const errLines = u.stderr.trimEnd().split('\n');
    assert.equal(errLines.length, 2, u.stderr);
    assert.match(errLines[1], /^usage: bpfmap dump/);
  } finally {
    flows.close();
    rmSync(counts, { force: true });
  }
});
