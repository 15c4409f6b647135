// The two TypeScript compilers the declarations and README snippets are checked with, and a
// consumer project that depends on the built package the way an npm install lays it out.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** [label, path of the tsc script]: the repo's TypeScript 5.9 and TypeScript 7 (devDependency `typescript7`). */
export const compilers = [
  ['TypeScript 5.9', join(root, 'node_modules/typescript/bin/tsc')],
  ['TypeScript 7', join(root, 'node_modules/typescript7/bin/tsc')],
];

/** Runs one tsc with `args` in `cwd`; returns { status, output }. */
export function tsc(script, args, cwd) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * A fresh project in a temp dir with `bpfmap` in node_modules: its package.json and dist/ copied
 * (what the tarball has; no @types/node anywhere above it), the rest (the addon) linked.
 */
export function consumerProject(tsconfig) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-consumer-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  const pkg = join(dir, 'node_modules/bpfmap');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  for (const d of ['build', 'prebuilds']) {
    try {
      cpSync(join(root, d), join(pkg, d), { recursive: true });
    } catch {}
  }
  return dir;
}

/** What `tsc --init` (TypeScript 7) writes, with skipLibCheck off so the package's own .d.ts is checked. */
export const initConfig = {
  compilerOptions: {
    module: 'nodenext',
    target: 'esnext',
    types: [],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    noUncheckedSideEffectImports: true,
    moduleDetection: 'force',
    skipLibCheck: false,
  },
};
