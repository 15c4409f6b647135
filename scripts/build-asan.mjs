#!/usr/bin/env node
// Builds the addon with AddressSanitizer into build-asan/ (for the fuzz test): the same sources and
// binding.gyp, compiled with -fsanitize=address. Run through npm (`npm run build:asan`) so that
// npm's own node-gyp and its nodedir setting are used, as for the normal build.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localNodedir } from './setup-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build-asan');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(root, 'native'), join(out, 'native'), { recursive: true });
cpSync(join(root, 'binding.gyp'), join(out, 'binding.gyp'));
const npmCli = process.env.npm_execpath;
if (!npmCli) throw new Error('run this through npm: npm run build:asan');
const nodeGyp = join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [nodeGyp, 'rebuild'];
const nodedir = process.env.npm_config_nodedir || localNodedir(); // the running Node's headers: no download
if (nodedir) args.push(`--nodedir=${nodedir}`);
execFileSync(process.execPath, args, {
  cwd: out,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    CFLAGS: '-fsanitize=address -fno-omit-frame-pointer -g -O1',
    LDFLAGS: '-fsanitize=address',
  },
});
console.log(join(out, 'build', 'Release', 'bpfmap.node'));
