// Fuzzed bad input against the library and the CLI (test/helpers/fuzz-child.mjs), in a child process
// so that a crash or a hang is a failure, not a lost test run: once with the normal addon and once
// with an AddressSanitizer build of it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const child = fileURLToPath(new URL('./helpers/fuzz-child.mjs', import.meta.url));

function fuzz(calls, cliRuns, env = {}) {
  const r = spawnSync(process.execPath, [child, String(calls), String(cliRuns)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
    cwd: root,
  });
  assert.equal(r.signal, null, `the fuzz run was killed by ${r.signal} (crash or hang)\n${r.stderr.slice(-3000)}`);
  assert.equal(r.status, 0, `the fuzz run failed (its seed and counterexample follow)\n${r.stderr.slice(-3000)}`);
  const figures = JSON.parse(r.stdout.trim().split('\n').at(-1));
  console.log(`# fuzz${env.BPFMAP_ADDON ? ' (ASan)' : ''}: ${JSON.stringify(figures)}`);
  return figures;
}

function check(f, calls, cliRuns) {
  assert.ok(f.calls + f.mustThrow >= calls * 0.95, `${f.calls} random calls + ${f.mustThrow} must-throw cases`);
  assert.ok(f.threw > 0 && f.returned > 0, 'both outcomes happened');
  assert.ok(f.cli >= cliRuns * 0.9, `${f.cli} command lines`);
  for (const code of ['0', '1', '2']) assert.ok(f.cliCodes[code] > 0, `exit code ${code} seen`);
  assert.equal(f.fdsAfter, f.fdsBefore, 'no BPF object fd left open');
}

test('20,000 random library calls and 2,000 random command lines: errors, never crashes or quiet successes', () => {
  const f = fuzz(20_000, 2_000);
  check(f, 20_000, 2_000);
  assert.equal(f.asan, false);
});

test('the same under an AddressSanitizer build of the addon', () => {
  execFileSync('npm', ['run', '--silent', 'build:asan'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const addon = `${root}build-asan/build/Release/bpfmap.node`;
  assert.ok(existsSync(addon));
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  assert.ok(libasan.startsWith('/'), `libasan found (${libasan})`);
  const f = fuzz(10_000, 1_000, {
    LD_PRELOAD: libasan,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    BPFMAP_ADDON: addon,
  });
  check(f, 10_000, 1_000);
  assert.equal(f.asan, true, 'the sanitizer runtime and the ASan build of the addon were loaded');
});
