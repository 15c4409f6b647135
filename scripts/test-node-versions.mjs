#!/usr/bin/env node
// npm's posttest step: with CI=true (or BPFMAP_NODE_VERSIONS=22,24), runs the test files again under
// each other Node major the package supports, with the same addon (N-API is ABI-stable: the build
// made under one Node loads in all). Left out of these reruns (SAME_ON_EVERY_NODE): the files whose
// subject does not change with the Node runtime — the TypeScript and typedoc builds, npm pack, the
// README's prose examples, the bench smoke run, Prometheus — and the long randomised ones (model,
// fake-model, fuzz, concurrency), whose hostile-input and addon paths the remaining files cover;
// so that the whole `npm test` stays well inside CI's 15 minutes. BPFMAP_NODE_ALL=1 reruns every file. The binaries come from the npm packages node-linux-<arch>@<major>,
// installed once into a cache outside node_modules (~/.cache/bpfmap/), not as dependencies: each is
// ~100 MB that no user of the package needs.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { arch, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wanted = process.env.BPFMAP_NODE_VERSIONS ?? (process.env.CI === 'true' ? '22,24' : '');
if (!wanted) {
  console.log('# Node 22 and 24 runs skipped (they run with CI=true, or BPFMAP_NODE_VERSIONS=22,24)');
  process.exit(0);
}
const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bpfmap');
const SAME_ON_EVERY_NODE = [
  /^75\.metrics-export/,
  /^80\.model/,
  /^81\.fake-model/,
  /^82\.fuzz\./,
  /^85\.asan/,
  /^86\.concurrency/,
  /^89\.gen/,
  /^90\.types/,
  /^92\.readme/,
  /^93\.docs/,
  /^95\.bench/,
  /^97\.package/,
];
const all = process.env.BPFMAP_NODE_ALL === '1';
const files = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => all || !SAME_ON_EVERY_NODE.some((re) => re.test(f)))
  .sort()
  .map((f) => join('test', f));

function nodeBinary(major) {
  const pkg = `node-linux-${arch()}`;
  const prefix = join(cache, `${pkg}@${major}`);
  const bin = join(prefix, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(bin)) {
    console.log(`# installing ${pkg}@${major} into ${prefix}`);
    const r = spawnSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `${pkg}@${major}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (r.status !== 0 || !existsSync(bin)) {
      console.error(`bpfmap: could not install ${pkg}@${major} (npm install --prefix ${prefix} ${pkg}@${major})`);
      process.exit(1);
    }
  }
  return bin;
}

let failed = 0;
for (const major of wanted
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean)) {
  const node = nodeBinary(major);
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`# the suite under Node ${version}`);
  const started = Date.now();
  const r = spawnSync(node, ['--test', '--test-concurrency=1', ...files], {
    cwd: root,
    stdio: 'inherit',
    // Children the tests start (process.execPath, and `npm`, whose shebang finds node on PATH) use it too.
    env: { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}` },
  });
  console.log(`# Node ${version}: ${r.status === 0 ? 'pass' : 'FAIL'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
