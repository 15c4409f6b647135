#!/usr/bin/env node
// npm's install step. An installed package uses its prebuilt addon (prebuilds/linux-<arch>/, made by
// `npm pack` through prepack) when one fits and loads, so no compiler is needed; a git checkout, a
// platform with no prebuild, or `npm install --build-from-source` builds native/bpfmap.c with
// node-gyp. That build needs python3, make and g++: when they are missing, root on Debian/Ubuntu
// gets them from apt-get, anyone else one message naming the command.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, localNodedir, nodeGypJs, which } from './setup-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function prebuilt() {
  if (process.env.npm_config_build_from_source === 'true' || existsSync(join(root, '.git'))) return undefined;
  try {
    const file = require('node-gyp-build').path(root);
    require(file); // a prebuild that does not load here (another libc, say) is no prebuild
    return file;
  } catch {
    return undefined;
  }
}

const found = prebuilt();
if (found) process.exit(0);

const missing = [];
if (!which('python3')) missing.push('python3');
if (!which('make')) missing.push('make');
if (!which('g++') || !which('cc')) missing.push('g++');
aptInstall(missing, 'building the native addon from source');

const gyp = nodeGypJs();
if (!gyp) {
  console.error('bpfmap: node-gyp was not found (it comes with npm); run `npm install` through npm.');
  process.exit(1);
}
const args = [gyp, 'rebuild'];
const nodedir = localNodedir();
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
