// Loading clang-compiled objects with openObject/loadObject: every map form (BTF-defined with
// map-in-map and prog-array initialisers, legacy `maps`), every global-data section and its
// variables, externs (kconfig, kfuncs, __ksym), each code relocation (map fd, map value, bpf-to-bpf
// call, bpf_loop callback), pin-by-name reuse and mismatch, autoload. The programs run
// (BPF_PROG_TEST_RUN) and what they write is read back through the maps and with bpftool.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { BpfError, BpfMap, MapType, ObjectError, loadObject, openObject } from 'bpfmap';
import { buildObject } from './fixtures/obj/build.mjs';
import { BPFFS, bpftool, ensureBpffs, readU64, u32 } from './helpers/kernel.mjs';

function results(map, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(readU64(map.lookup(u32(i))));
  return out;
}

function pinDir(t, name) {
  ensureBpffs();
  const dir = `${BPFFS}/bpfmap_objects_${process.pid}_${name}`;
  mkdirSync(dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('openObject reads BTF-defined maps as declared, with initialisers and the inner-map template', () => {
  const spec = openObject(buildObject('maps'));
  const m = spec.maps;
  assert.deepEqual(
    [m.flows.type, m.flows.keySize, m.flows.valueSize, m.flows.maxEntries, m.flows.flags],
    [MapType.LruHash, 8, 8, 128, 2], // struct flow { u32; u16; u8; } is 8 bytes; BPF_F_NO_COMMON_LRU
  );
  assert.deepEqual([m.sized.keySize, m.sized.valueSize, m.sized.btfKeyTypeId, m.sized.btfValueTypeId], [4, 12, 0, 0]);
  assert.ok(m.flows.btfKeyTypeId > 0 && m.flows.btfValueTypeId > 0);
  assert.equal(m.events.type, MapType.Ringbuf);
  assert.equal(m.shared.pinning, 1);
  assert.equal(m.outer.inner?.type, MapType.Array);
  assert.deepEqual(
    [...m.outer.initSlots],
    [
      [0, 'inner_a'],
      [2, 'inner_b'],
    ],
  );
  assert.deepEqual(
    [...m.jumps.initSlots],
    [
      [1, 'tail_a'],
      [2, 'tail_b'],
    ],
  );
  // Three programs in one section, keyed by function name.
  assert.deepEqual(Object.keys(spec.programs).sort(), ['run', 'tail_a', 'tail_b']);
  for (const p of Object.values(spec.programs)) assert.equal(p.section, 'xdp');
});

test('maps: map-in-map and prog-array slots are filled, tail calls run, pinned map created then reused', (t) => {
  const dir = pinDir(t, 'maps');
  const obj = loadObject(buildObject('maps'), { pinPath: dir });
  t.after(() => obj.close());
  assert.deepEqual(Object.keys(obj.programs).sort(), ['run', 'tail_a', 'tail_b']);
  // The pinned map exists under pinPath and is the object's map.
  const pinned = bpftool('map', 'show', 'pinned', `${dir}/shared`);
  assert.equal(pinned.id, obj.maps.shared.id);
  obj.maps.shared.update(u32(1), u32(77));
  const r = obj.programs.run.testRun({ data: new Uint8Array(64) });
  assert.equal(r.retval, 2); // XDP_PASS from tail_a
  const got = results(obj.maps.results, 8);
  assert.deepEqual(got, [1n, 2n, 0n, 77n, 1n, 0xaan, 0n, 0n]);
  // inner_a got its increment through the outer map, as the object's own map.
  assert.equal(readU64(obj.maps.inner_a.lookup(u32(0))), 1n);
  // A second load of the same object reuses the pin: one kernel map.
  const again = loadObject(buildObject('maps'), { pinPath: dir });
  t.after(() => again.close());
  assert.equal(again.maps.shared.id, obj.maps.shared.id);
  assert.notEqual(again.maps.results.id, obj.maps.results.id);
  // The program sees the maps bpftool shows it using.
  const prog = bpftool('prog', 'show', 'id', obj.programs.run.id);
  for (const name of ['results', 'outer', 'shared', 'flows', 'jumps'])
    assert.ok(prog.map_ids.includes(obj.maps[name].id), `run uses ${name}`);
});

test('pin by name: an incompatible pin is an error naming the field that differs, and nothing is left behind', (t) => {
  const dir = pinDir(t, 'mismatch');
  const other = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 99 });
  t.after(() => other.close());
  other.pin(`${dir}/shared`);
  const before = new Set(bpftool('map', 'show').map((m) => m.id));
  assert.throws(
    () => loadObject(buildObject('maps'), { pinPath: dir }),
    (e) => e instanceof ObjectError && e.map === 'shared' && /max_entries \(pinned 99, declared 16\)/.test(e.message),
  );
  const after = bpftool('map', 'show').filter((m) => !before.has(m.id));
  // Maps of other processes may appear meanwhile; none of ours (named after the object's maps) may.
  assert.deepEqual(
    after.filter((m) => ['results', 'flows', 'inner_a', 'outer', 'jumps'].includes(m.name)),
    [],
  );
});

test('maps: reuse substitutes a map the caller has; type and maxEntries can be changed before load', (t) => {
  const mine = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 8 });
  t.after(() => mine.close());
  const spec = openObject(buildObject('maps'));
  spec.maps.flows.maxEntries = 256;
  spec.maps.flows.type = MapType.Hash;
  spec.maps.flows.flags = 0; // BPF_F_NO_COMMON_LRU is for LRU maps only
  const obj = spec.load({ maps: { results: { reuse: mine } }, pinPath: pinDir(t, 'reuse') });
  t.after(() => obj.close());
  assert.equal(obj.maps.results.id, mine.id);
  assert.equal(obj.maps.flows.maxEntries, 256);
  assert.equal(obj.maps.flows.type, MapType.Hash);
  obj.programs.run.testRun({ data: new Uint8Array(64) });
  assert.equal(readU64(mine.lookup(u32(4))), 1n);
});

test('global data: .rodata set before load, .data/.bss/.data.custom live through mmap, kconfig, kfuncs, calls and callbacks', (t) => {
  const spec = openObject(buildObject('globals'));
  spec.programs.odd.autoload = false;
  assert.deepEqual(Object.keys(spec.variables).sort(), [
    'cfg_enabled',
    'cfg_limits',
    'cfg_mode',
    'cfg_scale',
    'cfg_tag',
    'counter',
    'custom_value',
    'hits',
    'seen_limits',
    'table',
  ]);
  assert.equal(spec.variables.hidden_static, undefined); // static: not exposed, as libbpf skeletons do
  assert.equal(spec.variables.cfg_mode.get(), 'MODE_OFF');
  assert.equal(spec.variables.cfg_tag.get(), 'none');
  spec.variables.cfg_scale.set(3);
  const obj = spec.load({
    variables: { cfg_enabled: true, cfg_mode: 'MODE_SAFE', cfg_tag: 'xyz', cfg_limits: { lo: 5, hi: 50 } },
  });
  t.after(() => obj.close());
  assert.deepEqual(Object.keys(obj.programs), ['run']); // ksym_user is SEC("?syscall"): not loaded by default
  obj.variables.counter.set(200n);
  assert.equal(obj.programs.run.testRun({}).retval, 0);
  const v = results(obj.maps.out, 15);
  const [a, b, c] = execFileSync('uname', ['-r'], { encoding: 'utf8' }).split(/[.-]/).map(Number);
  assert.deepEqual(v.slice(0, 7), [600n, 2n, BigInt('x'.charCodeAt(0)), 50n, 18n, 33n, 10n]);
  assert.equal(v[7], BigInt((a << 16) + (b << 8) + Math.min(c, 255)), 'LINUX_KERNEL_VERSION');
  assert.equal(v[8], 1n, 'CONFIG_BPF_SYSCALL');
  const hz = execFileSync('sh', ['-c', 'zcat /proc/config.gz | grep ^CONFIG_HZ= | cut -d= -f2'], { encoding: 'utf8' }).trim();
  assert.equal(v[9], BigInt(hz), 'CONFIG_HZ');
  assert.equal(v[10], 1n, 'a weak missing tristate is TRI_NO');
  assert.equal(v[11], 0n, 'a weak missing __ksym is 0');
  assert.equal(v[13], 10n, 'the bpf_iter_num kfuncs summed 0..4');
  assert.equal(v[14], 7n, '.data.custom');
  // Variables read what the program wrote, through the mmap'd data maps (no syscall).
  assert.equal(obj.variables.counter.get(), 201n);
  assert.equal(obj.variables.hits.get(), 10n);
  assert.deepEqual(obj.variables.seen_limits.get(), { lo: 5, hi: 50 });
  assert.equal(obj.variables.cfg_mode.get(), 'MODE_SAFE');
  assert.throws(() => obj.variables.cfg_scale.set(1), /frozen after load/);
  // Global-data maps as libbpf names them, flags as libbpf sets them; .rodata and .kconfig frozen.
  const show = (name) => bpftool('map', 'show', 'id', obj.maps[name].id);
  const ro = show('.rodata');
  assert.equal(ro.name, 'globals.rodata');
  assert.equal(ro.flags, 0x480); // BPF_F_RDONLY_PROG | BPF_F_MMAPABLE
  assert.equal(ro.frozen, 1);
  assert.equal(show('.data').name, 'globals.data');
  assert.equal(show('.bss').name, 'globals.bss');
  assert.equal(show('.data.custom').name, '.data.custom');
  assert.equal(show('.kconfig').name, 'globals.kconfig');
  assert.equal(show('.kconfig').frozen, 1);
  assert.equal(show('.data').flags, 0x400);
  // func_info and line_info reached the kernel: bpftool shows the C source next to the instructions.
  const xlated = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(obj.programs.run.id)], { encoding: 'utf8' });
  assert.match(xlated, /put\(5, global_add\(10, 20\)\);/);
  assert.match(xlated, /bpf_prog_[0-9a-f]+_global_add/); // a bpf-to-bpf call
  assert.match(xlated, /subprog\[/); // the bpf_loop callback's address
  // A data write from userspace through the variable reaches the program.
  obj.variables.counter.set(1000n);
  obj.programs.run.testRun({});
  assert.equal(results(obj.maps.out, 1)[0], 3000n);
});

test('programs: autoload off leaves a program out; an unknown section is an error only when loaded', (t) => {
  const spec = openObject(buildObject('globals'));
  assert.equal(spec.programs.odd.type, undefined);
  assert.equal(spec.programs.ksym_user.autoload, false); // SEC("?syscall")
  assert.throws(
    () => spec.load(),
    (e) => e instanceof ObjectError && e.program === 'odd' && /bpfmap_unknown_kind follows no known convention/.test(e.message),
  );
  const obj = spec.load({ programs: { odd: { autoload: false } } });
  t.after(() => obj.close());
  assert.deepEqual(Object.keys(obj.programs), ['run']);
});

test('externs: a typed __ksym loads where kallsyms has it, else the error names it', (t) => {
  const spec = openObject(buildObject('globals'));
  spec.programs.odd.autoload = false;
  spec.programs.ksym_user.autoload = true;
  let obj;
  try {
    obj = spec.load();
  } catch (e) {
    assert.ok(e instanceof ObjectError, String(e));
    assert.equal(e.program, 'ksym_user');
    assert.match(e.message, /bpf_prog_active/);
    assert.ok(e.cause instanceof BpfError);
    return;
  }
  t.after(() => obj.close());
  obj.programs.ksym_user.testRun({});
  assert.ok(readU64(obj.maps.out.lookup(u32(12))) >= 1n);
});

test('legacy maps section: struct bpf_map_def maps are created and relocated', (t) => {
  const obj = loadObject(buildObject('legacy'));
  t.after(() => obj.close());
  const info = bpftool('map', 'show', 'id', obj.maps.counts.id);
  assert.deepEqual([info.type, info.bytes_key, info.bytes_value, info.max_entries], ['hash', 4, 8, 32]);
  assert.equal(obj.maps.scratch.type, MapType.Array);
  obj.programs.count.testRun({ data: new Uint8Array(64) });
  obj.programs.count.testRun({ data: new Uint8Array(64) });
  assert.equal(readU64(obj.maps.counts.lookup(u32(7))), 2n);
});

test('a verifier refusal is an ObjectError naming the program, with the log, and closes what was created', () => {
  const before = new Set(bpftool('map', 'show').map((m) => m.id));
  // `bad` dereferences a lookup result without a NULL check: the verifier refuses it.
  assert.throws(
    () => loadObject(buildObject('refused')),
    (e) =>
      e instanceof ObjectError &&
      e.program === 'bad' &&
      typeof e.log === 'string' &&
      e.log.length > 0 &&
      /maps created/.test(e.message) &&
      e.cause instanceof BpfError &&
      /return \*v;/.test(e.log), // line_info reached the kernel: the log quotes the C source
  );
  const left = bpftool('map', 'show').filter((m) => !before.has(m.id) && m.name === 'lru');
  assert.deepEqual(left, []);
});

test('tracing programs: the section names the attach target, found by BTF id; attachTo changes it', (t) => {
  const spec = openObject(buildObject('tracing'));
  assert.equal(spec.programs.on_entry.attachTo, 'bpf_fentry_test1');
  assert.equal(spec.programs.on_switch.attachTo, 'sched_switch');
  assert.equal(spec.programs.on_task.attachTo, 'task');
  spec.programs.on_exit.attachTo = 'bpf_fentry_test2';
  let obj;
  try {
    obj = spec.load();
  } catch (e) {
    // Some kernels refuse tracing programs even to root (this test machine's does, before the
    // verifier runs): then the error must name the program and carry the kernel's EPERM.
    assert.ok(e instanceof ObjectError && e.program === 'on_entry' && e.cause instanceof BpfError, String(e));
    assert.equal(e.cause.code, 'EPERM');
  }
  if (obj) {
    t.after(() => obj.close());
    assert.deepEqual(Object.keys(obj.programs).sort(), ['on_entry', 'on_exit', 'on_switch', 'on_task']);
    assert.equal(obj.programs.on_entry.section, 'fentry/bpf_fentry_test1');
    assert.equal(bpftool('prog', 'show', 'id', obj.programs.on_entry.id).type, 'tracing');
  }
  const wrong = openObject(buildObject('tracing'));
  wrong.programs.on_entry.attachTo = 'bpfmap_no_such_function';
  assert.throws(
    () => wrong.load(),
    (e) =>
      e instanceof ObjectError &&
      e.program === 'on_entry' &&
      /bpfmap_no_such_function is not in the kernel's BTF/.test(e.message),
  );
});

test('one spec loads twice, and the caller’s bytes (a Buffer) are never written', (t) => {
  const bytes = readFileSync(buildObject('globals'));
  const copy = Buffer.from(bytes);
  const spec = openObject(bytes);
  spec.programs.odd.autoload = false;
  spec.variables.cfg_enabled.set(true);
  for (let i = 0; i < 2; i++) {
    const obj = spec.load();
    t.after(() => obj.close());
    obj.programs.run.testRun({});
    assert.deepEqual(results(obj.maps.out, 6), [100n, 0n, BigInt('n'.charCodeAt(0)), 10n, 6n, 33n]);
  }
  assert.ok(bytes.equals(copy));
});

test('BTF the kernel refuses: the object loads without it, and a note says so', (t) => {
  const bytes = new Uint8Array(readFileSync(buildObject('maps')));
  // Rename struct flow's member `proto` to `pro-o`: our reader does not mind, the kernel's BTF check does.
  // (Every copy of the string: .BTF's, and those of the DWARF sections, which do not matter.)
  const needle = Buffer.from('\0proto\0', 'latin1');
  let found = 0;
  for (let at = Buffer.from(bytes).indexOf(needle); at >= 0; at = Buffer.from(bytes).indexOf(needle, at + 1), found++)
    bytes[at + 4] = 0x2d;
  assert.ok(found > 0);
  const obj = loadObject(bytes, { pinPath: pinDir(t, 'nobtf'), name: 'maps' });
  t.after(() => obj.close());
  assert.equal(obj.notes.length, 1);
  assert.match(obj.notes[0], /the kernel refused the object's BTF; loading without it/);
  assert.equal(bpftool('map', 'show', 'id', obj.maps.flows.id).btf_id, undefined);
  assert.equal(obj.programs.run.testRun({ data: new Uint8Array(64) }).retval, 2);
  assert.deepEqual(obj.attach(), []); // xdp programs need an interface: nothing attaches by itself
});

test('externs: a strong kconfig, __ksym or kfunc extern the kernel lacks is an error naming it; a weak kfunc is 0', (t) => {
  for (const [flag, re] of [
    ['MISSING_KCONFIG', /extern CONFIG_BPFMAP_NO_SUCH_OPTION: the running kernel's configuration does not set it/],
    ['MISSING_KSYM', /extern bpfmap_no_such_symbol \(__ksym variable\) is not in the kernel's BTF/],
    ['MISSING_KFUNC', /extern bpfmap_no_such_kfunc \(__ksym function\) is not in the kernel's BTF/],
  ]) {
    const obj = buildObject('externs', [`-D${flag}`]);
    assert.throws(
      () => loadObject(obj),
      (e) => e instanceof ObjectError && re.test(e.message),
      flag,
    );
  }
  const obj = loadObject(buildObject('externs', ['-DWEAK_KFUNC']));
  t.after(() => obj.close());
  obj.programs.use.testRun({});
  assert.equal(obj.variables.result.get(), 7n);
});
