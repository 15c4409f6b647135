// `bpfmap watch` in a real terminal (tmux): the screen never holds more lines than the pane, a
// footer says how many entries are hidden, a resize redraws with more rows, and a datasec map
// shows its variables.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MapType } from 'bpfmap';
import { BPFFS, ensureBpffs, tmpMap } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tmux(...args) {
  return execFileSync('tmux', args.map(String), { encoding: 'utf8' });
}

/** Polls the pane until `pred(lines)` holds; returns the lines. */
async function screen(session, pred, what) {
  let lines = [];
  for (let i = 0; i < 100; i++) {
    lines = tmux('capture-pane', '-p', '-t', session).replace(/\n$/, '').split('\n');
    if (pred(lines)) return lines;
    await sleep(50);
  }
  assert.fail(`${what}; screen was:\n${lines.join('\n')}`);
}

test('watch fits an 80x20 pane, says how many rows are hidden, and shows more after a resize', async (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 200, name: 'cli_watch_fit' });
  for (let i = 0; i < 100; i++) m.update(Uint8Array.of(i, 0, 0, 0), Uint8Array.of(i, 1, 0, 0, 0, 0, 0, 0));
  const session = `bpfmap_watch_${process.pid}`;
  tmux('new-session', '-d', '-x', 80, '-y', 20, '-s', session, `${process.execPath} ${BIN} watch id ${m.id} --interval 0.2`);
  t.after(() => {
    try {
      tmux('kill-session', '-t', session);
    } catch {}
  });
  const small = await screen(session, (l) => l.some((x) => /more entries not shown/.test(x)), 'a footer');
  assert.ok(small.length <= 20, `${small.length} lines in a 20-line pane`);
  assert.match(
    small[0],
    /^bpfmap watch: map \d+ hash cli_watch_fit\s+100 entries/,
    'the title is still on top: nothing scrolled',
  );
  assert.ok(
    small.some((x) => /… 84 more entries not shown \(top 16 by value\)/.test(x)),
    small.join('\n'),
  );
  // The largest values first: key 99 is 0x163 = 355 (bytes 99, 1).
  assert.match(small[3], /^63 00 00 00\s+355\b/);
  for (const line of small) assert.ok(line.length <= 80, `line fits the width: ${line}`);

  tmux('resize-window', '-t', session, '-x', 80, '-y', 30);
  const big = await screen(session, (l) => l.some((x) => /74 more entries not shown/.test(x)), 'a redraw at 30 rows');
  assert.ok(big.length <= 30);
  assert.match(big[0], /^bpfmap watch:/);
  tmux('send-keys', '-t', session, 'q');
  // q ends watch, and with it the session's only window.
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    await sleep(50);
    try {
      tmux('has-session', '-t', session);
    } catch {
      alive = false;
    }
  }
  assert.equal(alive, false, 'q ended watch');
});

test('watch on a global-data map shows its variables, not hex', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = join(dir, 'g.o');
  const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(fixtures, 'globals.bpf.c'), '-o', obj]);
  ensureBpffs();
  const pins = join(BPFFS, `bpfmap_test_${process.pid}_watch_globals`);
  mkdirSync(pins);
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'type', 'socket', 'pinmaps', join(pins, 'maps')]);
  const session = `bpfmap_watch_ds_${process.pid}`;
  tmux(
    'new-session',
    '-d',
    '-x',
    100,
    '-y',
    10,
    '-s',
    session,
    `${process.execPath} ${BIN} watch pinned ${join(pins, 'maps', 'g_data')}`,
  );
  t.after(() => {
    try {
      tmux('kill-session', '-t', session);
    } catch {}
  });
  const lines = await screen(session, (l) => l.some((x) => /level/.test(x)), 'the variables');
  assert.ok(
    lines.some((x) => /^\s*0\s+\{ level: 3, point: \{ a: 7, b: 9 \} \}/.test(x)),
    lines.join('\n'),
  );
  assert.ok(!lines.some((x) => /03 00 00 00 07/.test(x)), 'no hex value');
});
