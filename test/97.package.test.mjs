// The package as a user gets it: `npm pack` (whose prepack step builds the prebuilt addons), then the
// tarball installed into an empty project by an npm whose PATH has node and a shell and nothing
// else (no C compiler, no make, no python3), so the install must use the prebuild. The CLI and a
// map round trip run from that install; the arm64 prebuild is an aarch64 ELF object.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  closeSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ensureBpffs } from './helpers/kernel.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

/** npm's own CLI script (npm_execpath under `npm test`, else the npm on PATH). */
function npmCli(name) {
  const npm =
    process.env.npm_execpath || realpathSync(spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim());
  return join(dirname(npm), `${name}-cli.js`);
}

/** e_machine of an ELF file (little-endian, at byte 18). */
function elfMachine(file) {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(20);
  readSync(fd, b, 0, 20, 0);
  closeSync(fd);
  assert.equal(b.toString('latin1', 0, 4), '\x7fELF', `${file} is an ELF file`);
  return b.readUInt16LE(18);
}

test('the packed tarball installs with no compiler on PATH, and its CLI and library work', { timeout: 600_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-package-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const pack = spawnSync(process.execPath, [npmCli('npm'), 'pack', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
  assert.equal(pack.status, 0, `npm pack\n${pack.stderr.slice(-3000)}`);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');

  // PATH: node, sh and env only.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync('/usr/bin/env', join(bin, 'env'));
  const env = { PATH: bin, HOME: process.env.HOME, BPFMAP_NO_APT: '1' };
  if (process.env.NODE_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = process.env.NODE_EXTRA_CA_CERTS;
  for (const tool of ['cc', 'gcc', 'g++', 'clang', 'make', 'python3']) {
    assert.notEqual(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is not on the stripped PATH`);
  }

  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  const run = (args, opts = {}) => spawnSync(process.execPath, args, { cwd: app, env, encoding: 'utf8', ...opts });
  const install = run([npmCli('npm'), 'install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)]);
  assert.equal(install.status, 0, `npm install of the tarball\n${install.stdout}\n${install.stderr.slice(-3000)}`);

  const pkg = join(app, 'node_modules', 'bpfmap');
  assert.ok(!existsSync(join(pkg, 'build')), 'nothing was compiled: the prebuild was used');
  const x64 = join(pkg, 'prebuilds', 'linux-x64', 'bpfmap.node');
  const arm64 = join(pkg, 'prebuilds', 'linux-arm64', 'bpfmap.node');
  assert.equal(elfMachine(x64), EM_X86_64, 'the x64 prebuild is an x86-64 object');
  assert.equal(elfMachine(arm64), EM_AARCH64, 'the arm64 prebuild is an aarch64 object');

  const help = run([npmCli('npx'), '--no-install', 'bpfmap', '--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: bpfmap VERB MAP/);

  // A round trip: the library writes and pins, the CLI (another process) reads it and writes, the
  // library reads the CLI's write back.
  ensureBpffs();
  const path = `/sys/fs/bpf/bpfmap_test_${process.pid}_package`;
  t.after(() => rmSync(path, { force: true }));
  const lib = (code) => run(['--input-type=module', '-e', `import { BpfMap, MapType } from 'bpfmap';\n${code}`]);
  const made = lib(`
    const m = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4 });
    m.updateInt(1, 7); m.pin(${JSON.stringify(path)}); m.close();
  `);
  assert.equal(made.status, 0, made.stderr);
  const looked = run([npmCli('npx'), '--no-install', 'bpfmap', 'lookup', 'pinned', path, '--key-int', '1']);
  assert.equal(looked.status, 0, looked.stderr);
  assert.match(looked.stdout, /\b07\b|\b7\b/, 'the CLI reads the library-written value 7');
  const updated = run([npmCli('npx'), '--no-install', 'bpfmap', 'update', 'pinned', path, '--key-int', '2', '--value-int', '9']);
  assert.equal(updated.status, 0, updated.stderr);
  const read = lib(`const m = BpfMap.openPinned(${JSON.stringify(path)}); console.log(String(m.lookupInt(2))); m.close();`);
  assert.equal(read.status, 0, read.stderr);
  assert.equal(read.stdout.trim(), '9');
});
