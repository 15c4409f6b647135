// test/fixtures/events.bpf.c, built with clang and loaded by bpftool: its `send` program (opened
// here) and its pinned ring buffer `rb` and perf event array `pe`, all removed when `t` ends.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfProgram } from 'bpfmap';
import { BPFFS, bpftool, ensureBpffs } from './kernel.mjs';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** `{ prog, rb, pe, send(repeat?) }`: `rb`/`pe` are pin paths; `send` runs the program (BPF_PROG_TEST_RUN). */
export function loadEvents(t, name) {
  const dir = mkdtempSync(join(tmpdir(), `bpfmap-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = join(dir, 'e.o');
  const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(fixtures, 'events.bpf.c'), '-o', obj]);
  ensureBpffs();
  const pins = join(BPFFS, `bpfmap_test_${process.pid}_${name}`);
  mkdirSync(pins, { recursive: true });
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'pinmaps', join(pins, 'maps')]);
  const prog = BpfProgram.fromId(bpftool('prog', 'show', 'pinned', join(pins, 'progs', 'send')).id);
  t.after(() => prog.close());
  return {
    prog,
    rb: join(pins, 'maps', 'rb'),
    pe: join(pins, 'maps', 'pe'),
    send: (repeat) => prog.testRun({ data: new Uint8Array(64), ...(repeat ? { repeat } : {}) }),
  };
}
