// Links for tracing hooks on the real kernel: tracepoints, raw tracepoints, tp_btf, iterators, perf
// events; the errors for the hooks this kernel refuses (trampolines: EPERM; kprobes: CONFIG_KPROBES);
// Link's own surface (info, pin, openPinned in another process, update, detach, close, fd leaks).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import test from 'node:test';
import {
  AttachType,
  Asm,
  BpfError,
  BtfKind,
  KernelConfigError,
  Link,
  listLinkIds,
  listLinks,
  loadProgram,
  MapType,
  parseBtf,
  ProgType,
  R0,
  R1,
  R2,
  R3,
  R6,
  R7,
  R10,
  TracepointNotFoundError,
} from 'bpfmap';
import { bpftool, closeAfter, gcChild, openFdCount, pinPath, tmpMap, u32 } from './helpers/kernel.mjs';
import { counter, getppid } from './helpers/links.mjs';

test('tracepoint: attach to syscalls/sys_enter_getppid, count real calls, detach, counts stop', (t) => {
  const c = counter(t, ProgType.Tracepoint, { filter: true });
  c.only(process.pid);
  const link = c.prog.attachTracepoint('syscalls', 'sys_enter_getppid');
  t.after(() => link.close());
  getppid(25);
  assert.equal(c.count(), 25);
  const info = link.info();
  assert.equal(info.type, 'perf_event');
  assert.equal(info.mechanism, 'link');
  assert.equal(info.perfEventType, 'tracepoint');
  assert.equal(info.tpName, 'sys_enter_getppid');
  assert.equal(info.progId, c.prog.id);
  assert.ok(link.id > 0);
  const shown = bpftool('link', 'show', 'id', link.id);
  assert.equal(shown.id, link.id);
  assert.equal(shown.prog_id, c.prog.id);
  assert.equal(shown.type, 'perf_event');
  link.close();
  assert.equal(link.closed, true);
  getppid(10);
  assert.equal(c.count(), 25, 'no counts after close()');
  assert.throws(
    () => link.info(),
    (e) => e instanceof BpfError && e.code === 'EBADF' && /link is closed/.test(e.message),
  );
});

test('section-driven attach: tracepoint/G/N and tp/G/N from loadProgram({ section })', (t) => {
  for (const section of ['tracepoint/syscalls/sys_enter_getppid', 'tp/syscalls/sys_enter_getppid']) {
    const c = counter(t, ProgType.Tracepoint, { filter: true, load: { section } });
    assert.equal(c.prog.section, section);
    c.only(process.pid);
    const link = c.prog.attach();
    getppid(7);
    link.close();
    getppid(3);
    assert.equal(c.count(), 7, section);
  }
  const bare = counter(t, ProgType.Tracepoint);
  assert.throws(() => bare.prog.attach(), /has no ELF section.*attachTracepoint\(group, name\)/s);
  const odd = counter(t, ProgType.Tracepoint, { load: { section: 'license' } });
  assert.throws(() => odd.prog.attach(), /section "license" does not say where.*tracepoint\/G\/N/);
});

test('a missing tracepoint names the nearest ones; a wrong program type is refused before any syscall', (t) => {
  const c = counter(t, ProgType.Tracepoint);
  assert.throws(
    () => c.prog.attachTracepoint('syscalls', 'sys_enter_getppidd'),
    (e) =>
      e instanceof TracepointNotFoundError && /no tracepoint "sys_enter_getppidd".*syscalls\/sys_enter_getppid/.test(e.message),
  );
  assert.throws(
    () => c.prog.attachTracepoint('syscallz', 'sys_enter_getppid'),
    (e) => e instanceof TracepointNotFoundError && /no tracepoint group "syscallz".*syscalls/.test(e.message),
  );
  const sock = counter(t, ProgType.SocketFilter);
  assert.throws(
    () => sock.prog.attachTracepoint('syscalls', 'sys_enter_getppid'),
    (e) =>
      e instanceof TypeError && /attachTracepoint takes Tracepoint programs; program "counter" is SocketFilter/.test(e.message),
  );
  assert.throws(() => sock.prog.attachXdp('lo'), /attachXdp takes Xdp programs/);
  assert.throws(() => c.prog.attachTracepoint('syscalls', 'a b'), /must be a non-empty name/);
});

test('raw tracepoint: sys_enter counts this process, detach stops it; a missing one names the nearest', (t) => {
  const c = counter(t, ProgType.RawTracepoint, { filter: true });
  c.only(process.pid);
  const link = c.prog.attachRawTracepoint('sys_enter');
  getppid(20);
  const n = c.count();
  assert.ok(n >= 20, `counted ${n} syscalls`);
  const info = link.info();
  assert.equal(info.type, 'raw_tracepoint');
  assert.equal(info.tpName, 'sys_enter');
  assert.equal(bpftool('link', 'show', 'id', link.id).tp_name, 'sys_enter');
  link.close();
  const after = c.count();
  getppid(20);
  assert.equal(c.count(), after);
  assert.throws(
    () => c.prog.attachRawTracepoint('sys_entr'),
    (e) => e instanceof TracepointNotFoundError && /no raw tracepoint "sys_entr".*sys_enter/.test(e.message),
  );
  const viaSection = counter(t, ProgType.RawTracepoint, { filter: true, load: { section: 'raw_tp/sys_enter' } });
  viaSection.only(process.pid);
  const l2 = viaSection.prog.attach();
  getppid(5);
  l2.close();
  assert.ok(viaSection.count() >= 5);
});

test('tp_btf: a BTF tracepoint program loaded with attachTo attaches with a tracing link and counts', (t) => {
  const c = counter(t, ProgType.Tracing, {
    filter: true,
    load: { expectedAttachType: AttachType.TraceRawTp, attachTo: 'sys_enter', section: 'tp_btf/sys_enter' },
  });
  assert.ok(c.prog.attachBtfId > 0);
  c.only(process.pid);
  const link = c.prog.attach();
  getppid(12);
  assert.ok(c.count() >= 12);
  const info = link.info();
  assert.equal(info.type, 'raw_tracepoint', 'tp_btf programs get a raw tracepoint link');
  assert.equal(info.tpName, 'sys_enter');
  assert.equal(info.progId, c.prog.id);
  link.close();
  const n = c.count();
  getppid(12);
  assert.equal(c.count(), n);
  assert.throws(
    () => counter(t, ProgType.Tracing, { load: { expectedAttachType: AttachType.TraceRawTp, attachTo: 'no_such_tp' } }),
    /attachTo "no_such_tp": the kernel's BTF .* has no TYPEDEF btf_trace_no_such_tp/,
  );
});

test('fentry/fexit/fmod_ret/lsm: this kernel refuses trampolines with EPERM; the error says why', (t) => {
  const ftraceRefused = (() => {
    try {
      readFileSync('/sys/kernel/tracing/set_ftrace_filter');
      return false;
    } catch (e) {
      return e.code === 'EPERM';
    }
  })();
  for (const [eat, type, target] of [
    [AttachType.TraceFentry, ProgType.Tracing, 'do_unlinkat'],
    [AttachType.TraceFexit, ProgType.Tracing, 'do_unlinkat'],
    [AttachType.ModifyReturn, ProgType.Tracing, 'bpf_fentry_test1'],
    [AttachType.LsmMac, ProgType.Lsm, 'file_open'],
  ]) {
    const load = () =>
      loadProgram({ type, expectedAttachType: eat, attachTo: target, instructions: new Asm().mov64(R0, 0).exit() });
    let prog;
    try {
      prog = load();
    } catch (e) {
      assert.ok(ftraceRefused, `only a kernel that refuses ftrace may refuse ${AttachType[eat]}: ${e.message}`);
      assert.ok(e instanceof BpfError && e.code === 'EPERM', e.message);
      assert.match(e.message, /not a missing capability/);
      assert.match(e.message, /BPF trampoline.*refuses ftrace text patching.*tp_btf, iter and raw_tp programs.*still load/);
      continue;
    }
    // A kernel with trampolines: attach, and the link says so.
    t.after(() => prog.close());
    const link = prog.attachTracing();
    assert.equal(link.info().type, 'tracing');
    link.close();
  }
  assert.throws(
    () =>
      loadProgram({
        type: ProgType.Tracing,
        expectedAttachType: AttachType.TraceFentry,
        attachTo: 'do_unlinkatt',
        instructions: new Asm().mov64(R0, 0).exit(),
      }),
    /has no FUNC do_unlinkatt; names like it: do_unlinkat/,
  );
});

test('kprobe/kretprobe/ksyscall: without CONFIG_KPROBES the error says so and names the option', (t) => {
  const c = counter(t, ProgType.Kprobe);
  const hasKprobes = (() => {
    try {
      readFileSync('/sys/bus/event_source/devices/kprobe/type');
      return true;
    } catch {
      return false;
    }
  })();
  const cases = [
    () => c.prog.attachKprobe('do_unlinkat'),
    () => c.prog.attachKprobe('do_unlinkat', { retprobe: true }),
    () => counter(t, ProgType.Kprobe, { load: { section: 'ksyscall/getppid' } }).prog.attach(),
    () => counter(t, ProgType.Kprobe, { load: { section: 'kprobe/do_unlinkat' } }).prog.attach(),
  ];
  if (hasKprobes) {
    for (const f of cases) f().close();
    return;
  }
  for (const f of cases)
    assert.throws(
      f,
      (e) =>
        e instanceof KernelConfigError &&
        e.option === 'CONFIG_KPROBES' &&
        /k(ret)?probe is not available: this kernel is built without CONFIG_KPROBES/.test(e.message),
    );
});

test('iter/task: an iterator link runs the program once per task; its output is read as text', (t) => {
  // bpf_iter__task { meta, task }: write one "." per task with bpf_seq_write(meta->seq, ".", 1).
  const a = new Asm()
    .ldx('u64', R6, R1, 0) // meta
    .ldx('u64', R7, R1, 8) // task (NULL at the end)
    .jeq(R7, 0, 'out')
    .st('u8', R10, -1, 0x2e)
    .ldx('u64', R1, R6, 0) // meta->seq
    .mov64(R2, R10)
    .add64(R2, -1)
    .mov64(R3, 1)
    .call('seq_write')
    .label('out')
    .mov64(R0, 0)
    .exit();
  const prog = closeAfter(
    t,
    loadProgram({
      type: ProgType.Tracing,
      expectedAttachType: AttachType.TraceIter,
      attachTo: 'task',
      instructions: a,
      section: 'iter/task',
    }),
  );
  const link = prog.attach();
  t.after(() => link.close());
  const info = link.info();
  assert.equal(info.type, 'iter');
  assert.equal(info.iterTarget, 'task');
  const text = link.readIterText();
  const tasks = execFileSync('sh', ['-c', 'ls -d /proc/[0-9]*/task/[0-9]* | wc -l'], { encoding: 'utf8' });
  assert.match(text, /^\.+$/);
  const n = Number(tasks.trim());
  assert.ok(Math.abs(text.length - n) <= Math.max(20, n / 5), `${text.length} tasks iterated, ${n} in /proc`);
  assert.equal(link.readIter().length > 0, true, 'each read runs it again');
});

test('iter/bpf_map: walks every map; the output holds the ids of maps this test made', (t) => {
  const maps = [3, 5, 8].map(() => tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 }));
  // bpf_iter__bpf_map { meta, map }: write map->id (its offset from the kernel's BTF) with bpf_seq_write.
  const types = parseBtf(readFileSync('/sys/kernel/btf/vmlinux'));
  const bpfMap = types.find((x) => x.kind === BtfKind.Struct && x.name === 'bpf_map');
  const idOff = bpfMap.members.find((m) => m.name === 'id').bitOffset / 8;
  const a = new Asm()
    .ldx('u64', R6, R1, 0)
    .ldx('u64', R7, R1, 8)
    .jeq(R7, 0, 'out')
    .ldx('u32', R3, R7, idOff)
    .st('u32', R10, -4, R3)
    .ldx('u64', R1, R6, 0)
    .mov64(R2, R10)
    .add64(R2, -4)
    .mov64(R3, 4)
    .call('seq_write')
    .label('out')
    .mov64(R0, 0)
    .exit();
  const prog = closeAfter(
    t,
    loadProgram({ type: ProgType.Tracing, expectedAttachType: AttachType.TraceIter, attachTo: 'bpf_map', instructions: a }),
  );
  const link = prog.attachIter();
  t.after(() => link.close());
  assert.equal(link.info().iterTarget, 'bpf_map');
  const out = link.readIter();
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const ids = new Set();
  for (let i = 0; i + 4 <= out.length; i += 4) ids.add(v.getUint32(i, true));
  for (const m of maps) assert.ok(ids.has(m.id), `map ${m.id} was walked`);
  const tp = counter(t, ProgType.Tracepoint);
  assert.throws(() => tp.prog.attachIter(), /attachIter takes Tracing programs/);
});

test('iter/bpf_map_elem: this kernel refuses map-element iterators (EPERM from the verifier); elsewhere they walk the map', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
  for (const k of [3, 5, 8]) m.update(u32(k), u32(k * 100));
  // bpf_iter__bpf_map_elem { meta, map, key, value }: write key then value (4 bytes each).
  const a = new Asm()
    .ldx('u64', R6, R1, 0)
    .ldx('u64', R7, R1, 16)
    .ldx('u64', R2, R1, 24)
    .jeq(R7, 0, 'out')
    .jeq(R2, 0, 'out')
    .ldx('u32', R3, R2, 0)
    .st('u32', R10, -4, R3)
    .ldx('u32', R3, R7, 0)
    .st('u32', R10, -8, R3)
    .ldx('u64', R1, R6, 0)
    .mov64(R2, R10)
    .add64(R2, -8)
    .mov64(R3, 8)
    .call('seq_write')
    .label('out')
    .mov64(R0, 0)
    .exit();
  let prog;
  try {
    prog = loadProgram({
      type: ProgType.Tracing,
      expectedAttachType: AttachType.TraceIter,
      attachTo: 'bpf_map_elem',
      instructions: a,
    });
  } catch (e) {
    // Linux 6.18 here: "processed 0 insns" in the log, so the verifier started and refused at the attach target.
    assert.ok(e instanceof BpfError && e.code === 'EPERM', e.message);
    assert.match(e.log ?? '', /processed 0 insns/);
    return;
  }
  t.after(() => prog.close());
  const link = prog.attachIter({ map: m });
  t.after(() => link.close());
  assert.equal(link.info().mapId, m.id);
  const out = link.readIter();
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const seen = [];
  for (let i = 0; i < out.length; i += 8) seen.push([v.getUint32(i, true), v.getUint32(i + 4, true)]);
  assert.deepEqual(
    seen.sort((x, y) => x[0] - y[0]),
    [
      [3, 300],
      [5, 500],
      [8, 800],
    ],
  );
});

test('perf_event: a program sampling the software CPU clock runs, and stops after close()', async (t) => {
  const c = counter(t, ProgType.PerfEvent);
  const link = c.prog.attachPerfEvent({ cpu: 0, frequency: 1000 });
  const info = link.info();
  assert.equal(info.type, 'perf_event');
  assert.equal(info.perfEventType, 'event');
  assert.equal(typeof info.eventType, 'number');
  assert.equal(info.config, 0n);
  const until = Date.now() + 300;
  while (Date.now() < until) getppid(100); // keep a CPU busy; the clock samples wherever
  await new Promise((r) => setTimeout(r, 100));
  const n = c.count();
  assert.ok(n > 10, `sampled ${n} times in 400 ms at 1000 Hz`);
  link.close();
  await new Promise((r) => setTimeout(r, 50));
  const stopped = c.count();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.count(), stopped, 'no samples after close()');
  const viaSection = counter(t, ProgType.PerfEvent, { load: { section: 'perf_event' } });
  viaSection.prog.attach({ perfEvent: { cpu: 0, frequency: 100 } }).close();
});

test('a pinned link survives close() and another process finds it with Link.openPinned; removing the pin ends it', async (t) => {
  const c = counter(t, ProgType.Tracepoint, { filter: true });
  c.only(process.pid);
  const path = pinPath(t, 'links_tp');
  const link = c.prog.attachTracepoint('syscalls', 'sys_enter_getppid');
  link.pin(path);
  assert.equal(link.pinned, true);
  const id = link.id;
  link.close();
  getppid(9);
  assert.equal(c.count(), 9, 'the pinned link still counts after close()');
  const other = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { Link } from 'bpfmap'; const l = Link.openPinned(${JSON.stringify(path)}); const i = l.info(); l.close(); console.log(JSON.stringify({ id: l.id, type: i.type, tp: i.tpName, prog: i.progId }));`,
    ],
    { encoding: 'utf8', cwd: new URL('..', import.meta.url) },
  );
  assert.deepEqual(JSON.parse(other), { id, type: 'perf_event', tp: 'sys_enter_getppid', prog: c.prog.id });
  const pinned = bpftool('link', 'show', 'pinned', path);
  assert.equal(pinned.id, id);
  assert.ok(
    listLinks().some((l) => l.id === id && l.programId === c.prog.id),
    'listLinks() has it',
  );
  assert.throws(() => link.pin(`${path}_again`), /EBADF/);
  const again = Link.openPinned(path);
  assert.equal(again.pinned, true);
  assert.throws(
    () => again.pin(path),
    (e) => e instanceof BpfError && e.code === 'EEXIST',
  );
  assert.throws(
    () => again.detach(),
    (e) => e instanceof BpfError && e.code === 'EOPNOTSUPP' && /no forced detach/.test(e.message),
  );
  assert.equal(again.closed, true, 'detach() closes the handle even when the kernel has no forced detach');
  getppid(2);
  assert.equal(c.count(), 11, 'still attached: the pin holds it');
  rmSync(path);
  // bpffs frees the inode (and so drops the link) after an RCU grace period: wait until the id is gone.
  for (let i = 0; i < 100 && listLinkIds().includes(id); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(listLinkIds().includes(id), false, 'the link is gone with its pin');
  getppid(9);
  assert.equal(c.count(), 11, 'no counts once the last reference (the pin) is gone');
  assert.throws(
    () => Link.openPinned(`${path}_none`),
    (e) => e instanceof BpfError && e.code === 'ENOENT',
  );
  const mapPin = pinPath(t, 'links_notalink');
  c.map.pin(mapPin);
  assert.throws(() => Link.openPinned(mapPin), /holds a bpf-map, not a BPF link/);
});

test('update() on a link type without updates (raw tracepoint) says so', (t) => {
  const a = counter(t, ProgType.RawTracepoint);
  const b = counter(t, ProgType.RawTracepoint);
  const link = a.prog.attachRawTracepoint('sys_enter');
  t.after(() => link.close());
  assert.throws(
    () => link.update(b.prog),
    (e) => e instanceof BpfError && e.code === 'EINVAL' && /tracepoint and perf links do not/.test(e.message),
  );
  assert.equal(link.info().progId, a.prog.id);
});

test('no attach leaves an fd behind, failed or not; [Symbol.dispose] closes the link', (t) => {
  const tp = counter(t, ProgType.Tracepoint);
  const raw = counter(t, ProgType.RawTracepoint);
  const kp = counter(t, ProgType.Kprobe);
  const before = openFdCount();
  for (let i = 0; i < 20; i++) {
    assert.throws(() => tp.prog.attachTracepoint('syscalls', 'nope'));
    assert.throws(() => raw.prog.attachRawTracepoint('nope_nope'));
    assert.throws(() => kp.prog.attachKprobe('do_unlinkat'));
    assert.throws(() => kp.prog.attachUprobe('/bin/true', 'no_such_function_here'));
    tp.prog.attachTracepoint('syscalls', 'sys_enter_getppid').close();
    const l = raw.prog.attachRawTracepoint('sys_enter');
    assert.equal(l.closed, false);
    l[Symbol.dispose]();
    assert.equal(l.closed, true);
  }
  assert.equal(openFdCount(), before);
  const closed = counter(t, ProgType.Tracepoint);
  closed.prog.close();
  assert.throws(
    () => closed.prog.attachTracepoint('syscalls', 'sys_enter_getppid'),
    (e) => e instanceof BpfError && e.code === 'EBADF',
  );
});

test('the pre-5.15 perf path (PERF_EVENT_IOC_SET_BPF + ENABLE) counts, says so in info(), and detaches on close()', async (t) => {
  // An internal: this kernel has perf links, so the older path is forced here to run it for real.
  const { setPerfAttachMode } = await import('../dist/link/attach.js');
  setPerfAttachMode('ioctl');
  t.after(() => setPerfAttachMode('auto'));
  const c = counter(t, ProgType.Tracepoint, { filter: true });
  c.only(process.pid);
  const before = openFdCount();
  const link = c.prog.attachTracepoint('syscalls', 'sys_enter_getppid');
  assert.equal(openFdCount(), before + 1, 'the link holds the perf event fd');
  getppid(13);
  assert.equal(c.count(), 13);
  assert.deepEqual(link.info(), {
    type: 'perf_event',
    typeId: 0,
    id: 0,
    progId: c.prog.id,
    mechanism: 'perf_event ioctl',
    perfEventType: 'tracepoint',
    tpName: 'sys_enter_getppid',
  });
  assert.equal(link.mechanism, 'perf_event ioctl');
  assert.throws(
    () => link.pin(pinPath(t, 'links_ioctl')),
    (e) => e instanceof BpfError && /only links can be pinned/.test(e.message),
  );
  link.close();
  assert.equal(openFdCount(), before);
  getppid(5);
  assert.equal(c.count(), 13, 'no counts after close()');
  const sock = counter(t, ProgType.SocketFilter);
  assert.throws(() => sock.prog.attachTracepoint('syscalls', 'sys_enter_getppid'), /takes Tracepoint programs/);
});

test('a dropped Link is closed by the garbage collector (a safety net), and the kernel drops the link', () => {
  const figures = gcChild(`
    import { Asm, Link, listLinkIds, loadProgram, ProgType, R0 } from 'bpfmap';
    import { readdirSync } from 'node:fs';
    const fds = () => readdirSync('/proc/self/fd').length;
    const prog = loadProgram({ type: ProgType.RawTracepoint, instructions: new Asm().mov64(R0, 0).exit() });
    const before = fds();
    let ids = [];
    (() => { for (let i = 0; i < 50; i++) ids.push(prog.attachRawTracepoint('sys_enter').id); })();
    const during = fds();
    for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    const live = new Set(listLinkIds());
    console.log(JSON.stringify({ opened: during - before, left: fds() - before, alive: ids.filter((id) => live.has(id)).length }));
  `);
  assert.equal(figures.opened, 50);
  assert.equal(figures.left, 0);
  assert.equal(figures.alive, 0);
});
