// uprobe/uretprobe links on a C binary the test compiles with gcc and runs as child processes: the
// symbol is resolved to a file offset from the ELF's .symtab/.dynsym; a pid filter counts one
// process only; a missing symbol or a stripped binary gives an error that lists what exists.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';
import { AttachTypeExt, ProgType, SymbolNotFoundError, symbolFileOffset } from 'bpfmap';
import { bpftool, openFdCount } from './helpers/kernel.mjs';
import { counter } from './helpers/links.mjs';

const source = fileURLToPath(new URL('./fixtures/link/uprobe-target.c', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const UPROBE_EVENTS = '/sys/kernel/tracing/uprobe_events';

/** The tracefs uprobe_events lines that probe `bin` (other processes share the file: look only at ours). */
function probeEvents(bin) {
  return readFileSync(UPROBE_EVENTS, 'utf8')
    .split('\n')
    .filter((l) => l.includes(bin));
}

/** The ids of every link the kernel has (bpftool link show -j). */
const linkIds = () => (bpftool('link', 'show') ?? []).map((l) => l.id);

function build(t) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-links-uprobe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'target');
  execFileSync('gcc', ['-O1', '-g', '-o', bin, source]);
  return { dir, bin, run: (n) => execFileSync(bin, [String(n)], { encoding: 'utf8' }) };
}

test('the ELF reader turns a symbol into the file offset nm and readelf agree on', (t) => {
  const { bin } = build(t);
  const nm = execFileSync('nm', [bin], { encoding: 'utf8' });
  const vaddr = BigInt(`0x${/^([0-9a-f]+) T bpfmap_target$/m.exec(nm)[1]}`);
  const phdrs = execFileSync('readelf', ['-lW', bin], { encoding: 'utf8' });
  let expected;
  for (const m of phdrs.matchAll(/^\s+LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) 0x[0-9a-f]+ 0x([0-9a-f]+)/gm)) {
    const [off, va, filesz] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), BigInt(`0x${m[3]}`)];
    if (vaddr >= va && vaddr < va + filesz) expected = Number(vaddr - va + off);
  }
  assert.equal(symbolFileOffset(bin, 'bpfmap_target'), expected);
  assert.ok(symbolFileOffset('/usr/lib/x86_64-linux-gnu/libc.so.6', 'malloc') > 0 || process.arch !== 'x64', 'a .dynsym symbol');
});

test('uprobe and uretprobe count the calls a child process makes; close() stops them', (t) => {
  const { bin, run } = build(t);
  const entry = counter(t, ProgType.Kprobe);
  const ret = counter(t, ProgType.Kprobe, { load: { section: `uretprobe/${bin}:bpfmap_target` } });
  const l1 = entry.prog.attachUprobe(bin, 'bpfmap_target');
  const l2 = ret.prog.attach();
  run(37);
  assert.deepEqual([entry.count(), ret.count()], [37, 37]);
  const info = l1.info();
  assert.equal(info.type, 'perf_event');
  assert.equal(info.mechanism, 'link');
  assert.ok(['uprobe', 'tracepoint'].includes(info.perfEventType), info.perfEventType);
  l1.close();
  l2.close();
  run(10);
  assert.deepEqual([entry.count(), ret.count()], [37, 37]);
  // a file offset works as well as a name
  const byOffset = counter(t, ProgType.Kprobe);
  const l3 = byOffset.prog.attachUprobe(bin, symbolFileOffset(bin, 'bpfmap_other'));
  run(3);
  l3.close();
  assert.equal(byOffset.count(), 1);
});

test('uprobe with a pid counts only that process', async (t) => {
  const { bin, run } = build(t);
  const c = counter(t, ProgType.Kprobe);
  const child = spawn(bin, ['11', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  await new Promise((r) => child.on('spawn', r));
  const link = c.prog.attachUprobe(bin, 'bpfmap_target', { pid: child.pid });
  t.after(() => link.close());
  run(50); // another process: not counted
  assert.equal(c.count(), 0);
  const exited = new Promise((r) => child.on('exit', r));
  child.stdin.end('x');
  await exited;
  assert.equal(c.count(), 11);
});

test('a missing symbol lists the nearest; a stripped binary says so; no fd is left behind', (t) => {
  const { dir, bin } = build(t);
  const c = counter(t, ProgType.Kprobe);
  const tp = counter(t, ProgType.Tracepoint);
  const fds = openFdCount();
  assert.throws(
    () => c.prog.attachUprobe(bin, 'bpfmap_targt'),
    (e) =>
      e instanceof SymbolNotFoundError &&
      e.symbol === 'bpfmap_targt' &&
      /has no function "bpfmap_targt".*nearest: .*bpfmap_target/.test(e.message),
  );
  const stripped = join(dir, 'stripped');
  copyFileSync(bin, stripped);
  execFileSync('strip', ['-s', stripped]);
  assert.throws(() => c.prog.attachUprobe(stripped, 'bpfmap_target'), /has no function "bpfmap_target"|stripped/);
  assert.throws(() => c.prog.attachUprobe(join(dir, 'none'), 'main'), /does not exist/);
  assert.throws(() => c.prog.attachUprobe('/etc/hostname', 'main'), /is not an ELF file/);
  assert.throws(() => tp.prog.attachUprobe(bin, 'bpfmap_target'), /attachUprobe takes Kprobe programs/);
  assert.throws(() => c.prog.attachUprobe(bin, 'bpfmap_target', { pid: 0x3ffffff0 }), /no process/);
  assert.equal(openFdCount(), fds);
  assert.doesNotMatch(
    readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8'),
    new RegExp(`bpfmap_${process.pid}/`),
    'no tracefs probe event left behind',
  );
});

test('uprobe_multi: a program loaded for BPF_TRACE_UPROBE_MULTI gets an uprobe_multi link (6.6+), with the pid filter', async (t) => {
  const { bin, run } = build(t);
  const c = counter(t, ProgType.Kprobe, { load: { expectedAttachType: AttachTypeExt.TraceUprobeMulti } });
  const link = c.prog.attachUprobe(bin, 'bpfmap_target');
  const info = link.info();
  assert.equal(info.type, 'uprobe_multi');
  assert.equal(info.count, 1);
  assert.equal(info.fileName, bin);
  run(21);
  assert.equal(c.count(), 21);
  link.close();
  run(5);
  assert.equal(c.count(), 21);
  const child = spawn(bin, ['4', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill());
  await new Promise((r) => child.on('spawn', r));
  const ret = counter(t, ProgType.Kprobe, { load: { expectedAttachType: AttachTypeExt.TraceUprobeMulti } });
  const l2 = ret.prog.attachUprobe(bin, 'bpfmap_target', { retprobe: true, pid: child.pid });
  t.after(() => l2.close());
  assert.equal(l2.info().pid, child.pid);
  run(30);
  const exited = new Promise((r) => child.on('exit', r));
  child.stdin.end('x');
  await exited;
  assert.equal(ret.count(), 4);
});

test('the uprobe PMU leaves no global state: uprobe_events gains no entry while attached or after close()', (t) => {
  const { dir, bin, run } = build(t);
  assert.ok(existsSync('/sys/bus/event_source/devices/uprobe/type'), 'this kernel has the uprobe PMU');
  const entry = counter(t, ProgType.Kprobe);
  const ret = counter(t, ProgType.Kprobe);
  const l1 = entry.prog.attachUprobe(bin, 'bpfmap_target');
  const l2 = ret.prog.attachUprobe(bin, 'bpfmap_other', { retprobe: true });
  t.after(() => {
    l1.close();
    l2.close();
  });
  assert.deepEqual(probeEvents(bin), [], 'no tracefs probe event while attached');
  const [i1, i2] = [l1.info(), l2.info()];
  assert.deepEqual(
    [i1.mechanism, i1.perfEventType, i1.fileName, i1.offset],
    ['link', 'uprobe', bin, symbolFileOffset(bin, 'bpfmap_target')],
  );
  assert.deepEqual(
    [i2.mechanism, i2.perfEventType, i2.fileName, i2.offset],
    ['link', 'uretprobe', bin, symbolFileOffset(bin, 'bpfmap_other')],
  );
  assert.ok(linkIds().includes(i1.id) && linkIds().includes(i2.id), 'bpftool lists both links');
  run(9);
  assert.deepEqual([entry.count(), ret.count()], [9, 1]);
  l1.close();
  l2.close();
  assert.deepEqual(probeEvents(bin), [], 'nor after close()');
  const ids = linkIds();
  assert.ok(!ids.includes(i1.id) && !ids.includes(i2.id), 'the links are gone');
  run(4);
  assert.deepEqual([entry.count(), ret.count()], [9, 1]);
  // the PMU takes the path as it is: spaces too (tracefs cannot)
  const spaced = join(dir, 'with space');
  copyFileSync(bin, spaced);
  const l3 = entry.prog.attachUprobe(spaced, 'bpfmap_target');
  t.after(() => l3.close());
  execFileSync(spaced, ['3']);
  l3.close();
  assert.equal(entry.count(), 12);
});

test('without the uprobe PMU (forced) a tracefs uprobe event stands in for it, and close() removes it', async (t) => {
  const { setProbeMode } = await import('../dist/link/attach.js');
  setProbeMode('tracefs');
  t.after(() => setProbeMode('auto'));
  const { bin, run } = build(t);
  const c = counter(t, ProgType.Kprobe);
  const link = c.prog.attachUprobe(bin, 'bpfmap_target', { retprobe: true });
  t.after(() => link.close());
  const events = probeEvents(bin);
  assert.equal(events.length, 1, 'one tracefs probe event');
  assert.match(events[0], new RegExp(`^r:bpfmap_${process.pid}/`));
  run(5);
  assert.equal(c.count(), 5);
  link.close();
  assert.deepEqual(probeEvents(bin), [], 'close() removed the event');
});

test('a process SIGKILLed while its uprobes are attached leaves no probe event and no link behind', async (t) => {
  const { bin, run } = build(t);
  const script = `
    import { Asm, loadProgram, ProgType, R0 } from 'bpfmap';
    const p = loadProgram({ type: ProgType.Kprobe, instructions: new Asm().mov64(R0, 0).exit(), name: 'uprobe_crash' });
    const a = p.attachUprobe(process.argv[1], 'bpfmap_target');
    const b = p.attachUprobe(process.argv[1], 'bpfmap_other', { retprobe: true, pid: process.pid });
    console.log(JSON.stringify([a.id, b.id]));
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, bin], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((r) => child.on('exit', (_code, signal) => r(signal)));
  t.after(() => {
    child.kill('SIGKILL');
    // should the library ever leave tracefs events behind, do not leave them to the next test run
    for (const l of probeEvents(bin)) appendFileSync(UPROBE_EVENTS, `-:${l.split(/\s/)[0].slice(2)}\n`);
  });
  const ids = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    child.on('exit', () => reject(new Error(`the child exited before attaching: ${out}`)));
  });
  assert.ok(
    ids.every((id) => linkIds().includes(id)),
    "the child's links exist",
  );
  run(2); // the probes fire in the live child's links
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  let left = ids;
  for (let i = 0; i < 50 && left.length; i++) {
    const now = linkIds();
    left = ids.filter((id) => now.includes(id));
    if (left.length) await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(left, [], 'no link of the killed process remains (bpftool link show)');
  assert.deepEqual(probeEvents(bin), [], 'no probe event remains in uprobe_events');
  run(2);
});
