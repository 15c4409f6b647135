// `bpfmap event_pipe`: records a program sends to a ring buffer and a perf event array, printed as
// they arrive (hex, BTF fields, JSON lines), lost samples reported, Ctrl-C ending it with exit 0.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadEvents } from './helpers/events.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

const events = (t) => loadEvents(t, 'events');

/** Starts event_pipe; resolves once it says it is reading. `lines()` gives stdout so far. */
async function pipe(t, ...args) {
  const child = spawn(process.execPath, [BIN, 'event_pipe', ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('Ctrl-C ends')) resolve();
    });
    child.on('close', () => reject(new Error(`event_pipe exited early: ${err}`)));
  });
  const lines = () => out.split('\n').filter(Boolean);
  const until = async (pred, what) => {
    for (let i = 0; i < 200 && !pred(lines()); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(pred(lines()), `${what}: ${out}`);
  };
  return { child, exited, lines, until, stderr: () => err };
}

test('ring buffer: hex lines, then BTF fields of a short record (the fields wholly present), as JSON lines', async (t) => {
  const e = events(t);
  const hex = await pipe(t, 'pinned', e.rb);
  e.send();
  await hex.until((l) => l.length === 1, 'one hex line');
  assert.equal(hex.lines()[0], '92 10 00 00 62 73 68 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 4d 00 00 00');
  hex.child.kill('SIGINT');
  const end = await hex.exited;
  assert.equal(end.code, 0, end.err);
  assert.match(end.err, /1 record\n/);

  const typed = await pipe(t, 'pinned', e.rb, '--type', 'struct event', '--json', '--count', 2);
  e.send();
  e.send();
  const done = await typed.exited;
  assert.equal(done.code, 0, done.err);
  const recs = done.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(recs.length, 2);
  // 28 of 96 bytes: pid and comm are whole, ts (bytes 24..31) is cut and left out.
  assert.deepEqual(recs[0].formatted, { pid: 4242, comm: 'bsh' });
  assert.equal(recs[0].size, 28);
  assert.equal(recs[0].data.length, 28);
});

test('perf event array: fields per CPU, lost samples reported, SIGINT ends it with exit 0', async (t) => {
  const e = events(t);
  const p = await pipe(t, 'pinned', e.pe, '--type', 'event');
  e.send();
  await p.until((l) => l.length === 1, 'one record');
  assert.match(p.lines()[0], /^cpu \d+: \{ pid: 4242, comm: "bsh", ts: 77, args: \[9, 0, /);
  // Stopped, the reader cannot keep up: the kernel drops samples and says how many.
  p.child.kill('SIGSTOP');
  // One run each (a repeated run returns EINTR when SIGCHLD from the stopped child arrives).
  for (let i = 0; i < 3000; i++) e.send();
  p.child.kill('SIGCONT');
  // The kernel writes its LOST record with the next sample that finds room again.
  let sent = 3001;
  for (let i = 0; i < 200 && !p.lines().some((x) => /lost \d+ samples/.test(x)); i++) {
    await new Promise((r) => setTimeout(r, 25));
    e.send();
    sent++;
  }
  const accounted = (l) =>
    l.filter((x) => x.includes('pid: 4242')).length +
    l.map((x) => Number(/lost (\d+) samples/.exec(x)?.[1] ?? 0)).reduce((a, n) => a + n, 0);
  // Samples dropped after the kernel wrote its LOST record (the reader still catching up) are
  // counted in the next LOST record, which the kernel writes with the next sample that finds room:
  // while the tally is short, send one more now and then, so the last losses get reported too.
  for (let i = 0; i < 400 && accounted(p.lines()) !== sent; i++) {
    await new Promise((r) => setTimeout(r, 25));
    if (i % 8 === 7 && accounted(p.lines()) !== sent) {
      e.send();
      sent++;
    }
  }
  await p.until((l) => accounted(l) === sent, `all ${sent} samples printed or counted lost`);
  p.child.kill('SIGINT');
  const end = await p.exited;
  assert.equal(end.code, 0, end.err);
  const lost = end.out
    .split('\n')
    .map((l) => /lost (\d+) samples/.exec(l)?.[1])
    .filter(Boolean)
    .reduce((a, n) => a + Number(n), 0);
  const got = end.out.split('\n').filter((l) => l.includes('pid: 4242')).length;
  assert.ok(lost > 0, 'some samples were lost');
  assert.equal(got + lost, sent, 'every sample was either printed or counted as lost');
  assert.match(end.err, new RegExp(`${got} records, ${lost} lost`));

  const j = await pipe(t, 'pinned', e.pe, '--json', '--count', 1);
  e.send();
  const r = await j.exited;
  assert.equal(r.code, 0, r.err);
  const rec = JSON.parse(r.out);
  assert.equal(typeof rec.cpu, 'number');
  assert.deepEqual(rec.data.slice(0, 4), ['0x92', '0x10', '0x00', '0x00']);
});

test('event_pipe refuses other maps and unknown types, naming what it reads', async (t) => {
  const e = events(t);
  const r = execFileSync(process.execPath, [BIN, 'event_pipe', '--help'], { encoding: 'utf8' });
  assert.match(r, /usage: bpfmap event_pipe MAP \[--type NAME\]/);
  const bad = spawn(process.execPath, [BIN, 'event_pipe', 'pinned', e.rb, '--type', 'nosuch']);
  let err = '';
  bad.stderr.on('data', (d) => {
    err += d;
  });
  const code = await new Promise((res) => bad.on('close', res));
  assert.equal(code, 1);
  assert.match(err, /--type nosuch: no type of that name in BTF/);
});
