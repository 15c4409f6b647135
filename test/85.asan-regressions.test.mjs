// The hostile-input regression suites again, with an AddressSanitizer build of the addon: the
// buffer-staging cases (test/21) and the readers' mapped pages and fds (test/68) must hold when
// every out-of-bounds access in the native layer is caught, not only when it happens to be harmless.
// (test/61 runs each of its own scenarios under both builds itself.)
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function asanEnv() {
  execFileSync('npm', ['run', '--silent', 'build:asan'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const addon = `${root}build-asan/build/Release/bpfmap.node`;
  assert.ok(existsSync(addon), 'the ASan addon was built');
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  assert.ok(libasan.startsWith('/'), `libasan found (${libasan})`);
  return { LD_PRELOAD: libasan, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', BPFMAP_ADDON: addon };
}

for (const file of ['test/21.hostile-args.test.mjs', 'test/68.readers-lifecycle.test.mjs']) {
  test(`${file} passes under the AddressSanitizer addon`, () => {
    const env = { ...process.env, ...asanEnv() };
    // Under `node --test` this variable marks a test child: the nested `node --test` would then run no file.
    delete env.NODE_TEST_CONTEXT;
    // The child proves which addon it loaded: the sanitizer runtime is mapped into it.
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "await import('bpfmap'); const m = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8'); console.log(m.includes('libasan') && m.includes('build-asan'))",
      ],
      { cwd: root, env, encoding: 'utf8' },
    );
    assert.equal(probe.stdout.trim(), 'true', `the ASan addon was loaded\n${probe.stderr.slice(-2000)}`);
    const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', file], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    const tail = `${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`;
    assert.equal(r.signal, null, `killed by ${r.signal} (a crash or a hang)\n${tail}`);
    assert.doesNotMatch(r.stderr, /AddressSanitizer/, tail);
    assert.equal(r.status, 0, tail);
    assert.match(r.stdout, /^# fail 0$/m, tail);
    assert.doesNotMatch(r.stdout, /^# pass 0$/m, 'the suite ran tests');
  });
}
