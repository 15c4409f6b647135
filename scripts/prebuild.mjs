#!/usr/bin/env node
// Builds the prebuilt addons the package carries (run by prepack, so `npm pack` and `npm publish`
// include them): prebuilds/linux-x64/bpfmap.napi.node and prebuilds/linux-arm64/bpfmap.napi.node,
// the second with Debian's cross compiler (gcc-aarch64-linux-gnu). N-API is ABI-stable and its
// headers are the same on every architecture, so both compile against the running Node's own
// headers (no download) and serve every Node version the package supports.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localNodedir, nodeGypJs, which } from './setup-common.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cross = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const gyp = nodeGypJs();
if (!gyp) throw new Error('node-gyp not found: run this through npm (npm run build:prebuilds)');
// prebuildify runs `node-gyp`: give it npm's.
const env = {
  ...process.env,
  npm_config_loglevel: 'warn',
  PREBUILD_NODE_GYP: `${process.execPath} ${gyp}`,
  PREBUILD_SHELL: '/bin/sh',
};
const nodedir = localNodedir();
if (nodedir) env.npm_config_nodedir = nodedir;

rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
for (const target of ['x64', 'arm64']) {
  const e = { ...env };
  let strip = 'strip';
  if (target !== arch()) {
    const prefix = cross[target];
    for (const tool of ['gcc', 'strip']) {
      if (!which(`${prefix}-${tool}`)) {
        const libc = target === 'arm64' ? 'libc6-dev-arm64-cross' : 'libc6-dev-amd64-cross';
        console.error(
          `bpfmap: the ${target} prebuild needs ${prefix}-${tool} and its libc: run \`apt-get install -y gcc-${prefix.replace(/_/g, '-')} ${libc}\`.`,
        );
        process.exit(1);
      }
    }
    Object.assign(e, { CC: `${prefix}-gcc`, CXX: `${prefix}-gcc`, LINK: `${prefix}-gcc`, AR: `${prefix}-ar` });
    strip = `${prefix}-strip`;
  }
  const bin = join(root, 'node_modules', 'prebuildify', 'bin.js');
  const args = [bin, '--napi', '--strip', '--strip-bin', strip, '--arch', target, '--target', process.versions.node];
  const r = spawnSync(process.execPath, args, { cwd: root, env: e, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
// The build/ folder now holds the last cross build: rebuild the native one so this checkout keeps working.
const r = spawnSync(process.execPath, [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
});
process.exit(r.status ?? 1);
