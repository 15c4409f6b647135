// Shared by the install, prebuild and test set-up scripts: node-gyp, the running Node's own headers,
// PATH look-ups and apt-get.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** npm's bundled node-gyp (npm sets npm_config_node_gyp for lifecycle scripts), else the one next to npm. */
export function nodeGypJs() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p));
}

/**
 * The install prefix of the running Node when it ships its headers (include/node/, as the Debian,
 * NodeSource and nodejs.org packages do) for exactly this version: node-gyp then compiles against
 * them instead of downloading headers, so a build works offline. Undefined when npm already has a
 * nodedir or the headers are not there.
 */
export function localNodedir() {
  if (process.env.npm_config_nodedir) return undefined;
  const prefix = join(dirname(process.execPath), '..');
  try {
    const h = readFileSync(join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (n) => h.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`))?.[1];
    if (`v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` !== process.version) return undefined;
    return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
  } catch {
    return undefined;
  }
}

/** The full path of `cmd` on PATH, or undefined. */
export function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/**
 * Installs Debian packages with apt-get when that is possible without asking (root, apt-get on
 * PATH, BPFMAP_NO_APT unset). Otherwise prints ONE message naming the command to run and exits 1.
 * `what` says what needs them ("building the native addon").
 */
export function aptInstall(packages, what) {
  if (packages.length === 0) return;
  const list = packages.join(' ');
  const apt = which('apt-get');
  const root = process.geteuid?.() === 0;
  if (!apt || !root || process.env.BPFMAP_NO_APT) {
    const command = apt ? `${root ? '' : 'sudo '}apt-get install -y ${list}` : `install ${list} with your package manager`;
    console.error(`bpfmap: ${what} needs ${list}. Run \`${command}\`, then run this again.`);
    process.exit(1);
  }
  console.error(`bpfmap: ${what} needs ${list}; installing with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    const r = spawnSync(apt, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0) {
      console.error(`bpfmap: \`apt-get ${args.join(' ')}\` failed; run \`apt-get install -y ${list}\` by hand.`);
      process.exit(1);
    }
  };
  run(['update', '-qq']);
  run(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
}
