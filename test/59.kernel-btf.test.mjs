// The kernel's BTF as the object loader and CO-RE see it (src/btf/target.ts): parsed once per
// process, looked up by name and kind, with the kernel's BTF object id and fd; split BTF for
// modules; user-provided BTF for kernels without it. Checked against bpftool.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BtfKind } from 'bpfmap';
import { parseBtf } from '../dist/btf/parse.js';
import { BtfTargetError, essentialName, releaseKernelBtf, TargetBtf } from '../dist/btf/target.js';
import { compile, tempDir } from './fixtures/core/harness.mjs';

const dump = () =>
  execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], { encoding: 'utf8', maxBuffer: 1 << 28 });

test('TargetBtf.kernel(): vmlinux parsed once, types found by name and kind at the ids bpftool shows', (t) => {
  const k = TargetBtf.kernel();
  t.diagnostic(`vmlinux BTF read: ${k.parseMs.toFixed(0)} ms for ${k.vmlinux.count} types`);
  const i0 = performance.now();
  k.find('task_struct', BtfKind.Struct);
  t.diagnostic(`name index: ${(performance.now() - i0).toFixed(0)} ms`);
  assert.equal(TargetBtf.kernel(), k, 'cached for the process');
  assert.equal(k.fromKernel, true);
  const text = dump();
  const idOf = (kind, name) => Number(new RegExp(`^\\[(\\d+)\\] ${kind} '${name}' `, 'm').exec(text)?.[1]);
  for (const [kind, btfKind, name] of [
    ['STRUCT', BtfKind.Struct, 'task_struct'],
    ['FUNC', BtfKind.Func, 'schedule'],
    ['VAR', BtfKind.Var, 'bpf_prog_active'],
    ['ENUM', BtfKind.Enum, 'bpf_map_type'],
    ['TYPEDEF', BtfKind.Typedef, 'u32'],
  ]) {
    const found = k.find(name, btfKind);
    assert.ok(found, `${kind} ${name}`);
    assert.equal(found.id, idOf(kind, name), `${kind} ${name}`);
    assert.equal(found.btf.name, 'vmlinux');
    assert.equal(found.type.name, name);
  }
  assert.equal(k.find('task_struct', BtfKind.Union), undefined);
  assert.equal(k.find('no_such_type_bpfmap', BtfKind.Struct), undefined);
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) k.find('schedule', BtfKind.Func);
  t.diagnostic(`100k lookups: ${(performance.now() - t0).toFixed(0)} ms`);
});

test('lookups of many names (string-table search first, then a full index) agree with bpftool', () => {
  releaseKernelBtf();
  const k = TargetBtf.kernel();
  const text = dump();
  const wanted = [...text.matchAll(/^\[(\d+)\] (STRUCT|FUNC) '([^']+)' /gm)]
    .filter((m, i) => i % 401 === 0 && m[3] !== '(anon)')
    .slice(0, 150);
  assert.ok(wanted.length > 100);
  for (const [, id, kind, name] of wanted) {
    const found = k.find(name, kind === 'STRUCT' ? BtfKind.Struct : BtfKind.Func);
    // the first of that name and kind: bpftool lists in id order, and a name may repeat
    const first = Number(new RegExp(`^\\[(\\d+)\\] ${kind} '${name}' `, 'm').exec(text)[1]);
    assert.equal(found?.id, first, `${kind} ${name} (listed at ${id})`);
  }
  releaseKernelBtf();
});

test('types decoded on demand are the ones parseBtf reads from the whole blob', () => {
  const k = TargetBtf.kernel();
  const all = parseBtf(readFileSync('/sys/kernel/btf/vmlinux'));
  assert.equal(k.vmlinux.count, all.length);
  for (let id = 1; id <= all.length; id += 97) assert.deepEqual(k.vmlinux.type(id), all[id - 1], `type ${id}`);
  assert.deepEqual(k.vmlinux.type(all.length), all[all.length - 1]);
  assert.equal(k.vmlinux.type(all.length + 1), undefined);
  assert.equal(k.vmlinux.type(0), undefined);
});

test('KernelBtf.objectId and fd() name the kernel BTF object bpftool lists; releaseKernelBtf closes the fd', () => {
  const k = TargetBtf.kernel();
  const listed = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'list'], { encoding: 'utf8' })).find(
    (b) => b.name === 'vmlinux',
  );
  assert.equal(k.vmlinux.objectId, listed.id);
  const fd = k.vmlinux.fd();
  assert.equal(k.vmlinux.fd(), fd, 'one fd, kept by the cache');
  assert.equal(readlinkSync(`/proc/self/fd/${fd}`), 'anon_inode:btf');
  const fdinfo = execFileSync('cat', [`/proc/${process.pid}/fdinfo/${fd}`], { encoding: 'utf8' });
  assert.match(fdinfo, new RegExp(`btf_id:\\s+${listed.id}\\b`));
  releaseKernelBtf();
  assert.ok(!existsSync(`/proc/self/fd/${fd}`) || readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:btf');
  assert.notEqual(TargetBtf.kernel(), k, 'parsed again after release');
  releaseKernelBtf();
});

test('modules(): one split BTF per /sys/kernel/btf entry besides vmlinux, ids after vmlinux', () => {
  const k = TargetBtf.kernel();
  const names = readdirSync('/sys/kernel/btf')
    .filter((n) => n !== 'vmlinux')
    .sort();
  const mods = k.modules();
  assert.deepEqual(
    mods.map((m) => m.name),
    names,
  );
  for (const m of mods) {
    assert.equal(m.isModule, true);
    assert.equal(m.firstId, k.vmlinux.count + 1);
    assert.equal(m.type(1), k.vmlinux.type(1), 'a module sees vmlinux types by their ids');
    assert.equal(m.type(m.firstId).id, m.firstId);
  }
});

/** Raw BTF: `types` as u32 words, `strings` joined after a leading NUL. */
function rawBtf(words, strings, leadingNul = true) {
  const str = Buffer.from(`${leadingNul ? '\0' : ''}${strings.join('\0')}\0`);
  const out = new Uint8Array(24 + words.length * 4 + str.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, str.length, true);
  for (const [i, w] of words.entries()) v.setUint32(24 + i * 4, w >>> 0, true);
  out.set(str, 24 + words.length * 4);
  return out;
}

test('parseBtf with a base: split BTF ids continue after the base, string offsets continue its table', () => {
  // base: [1] int "int"  (strings "\0int\0" = 5 bytes)
  const base = rawBtf([1, 1 << 24, 4, 32], ['int']);
  const baseTypes = parseBtf(base);
  // split: [2] typedef "my_t" -> 1, [3] ptr -> 2; its strings start at offset 5: "my_t" at 5
  const split = rawBtf([5, 8 << 24, 1, 0, 2 << 24, 2], ['my_t'], false);
  const own = parseBtf(split, { typeCount: baseTypes.length, strings: base.subarray(24 + 16) });
  assert.deepEqual(
    own.map((x) => [x.id, x.kind, x.name, x.type]),
    [
      [2, BtfKind.Typedef, 'my_t', 1],
      [3, BtfKind.Ptr, '', 2],
    ],
  );
});

test('user-provided BTF: fromBytes/fromFile stand in for vmlinux; ELF files and garbage are BtfTargetErrors', (t) => {
  const dir = tempDir(t, 'userbtf');
  const obj = compile(dir, 'target-btf.c', { vmlinux: false });
  assert.throws(
    () => TargetBtf.fromFile(obj),
    (e) => e instanceof BtfTargetError && /is an ELF file: pass its raw \.BTF section/.test(e.message),
  );
  assert.throws(
    () => TargetBtf.fromFile(join(dir, 'missing.btf')),
    (e) => e instanceof BtfTargetError && /cannot read the BTF file/.test(e.message),
  );
  const junk = join(dir, 'junk.btf');
  writeFileSync(junk, 'not btf at all, really not');
  assert.throws(
    () => TargetBtf.fromFile(junk),
    (e) => e instanceof BtfTargetError && /not readable BTF \(not BTF \(bad magic\)/.test(e.message),
  );
  const raw = join(dir, 'target.btf');
  execFileSync('llvm-objcopy', ['--dump-section', `.BTF=${raw}`, obj]);
  const user = TargetBtf.fromFile(raw);
  assert.equal(user.fromKernel, false);
  assert.deepEqual(user.modules(), []);
  assert.equal(user.vmlinux.objectId, undefined);
  assert.throws(() => user.vmlinux.fd(), BtfTargetError);
  assert.equal(user.find('thing', BtfKind.Struct)?.type.size, 256);
  assert.deepEqual(
    user.candidates('moved').map((c) => c.type.name),
    ['moved'],
  );
});

test('essentialName drops a ___flavor suffix as CO-RE does', () => {
  for (const [name, want] of [
    ['task_struct___old', 'task_struct'],
    ['task_struct___2', 'task_struct'],
    ['a___b___c', 'a___b'],
    ['plain', 'plain'],
    ['trailing___', 'trailing___'],
    ['x____y', 'x____y'],
    ['___x', '___x'],
    ['', ''],
  ])
    assert.equal(essentialName(name), want, name);
});

test('name lookups find exactly what a full decode finds: flavors, shared string tails, many hits, an unterminated table', () => {
  // Names, some sharing tails of longer strings (a name offset may point into a string).
  const strings = ['', 'foo', 'foo___v1', 'foo___v1___v2', 'xfoo___v3', 'foo_bar___v1', 'foo____x', 'foo___', 'bar', 'zfoo'];
  for (let i = 0; i < 20; i++) strings.push(`s${i}foo`); // 20 more places `foo` ends a string
  const table = [];
  const offsetOf = new Map();
  for (const s of strings) {
    offsetOf.set(s, table.length);
    table.push(...Buffer.from(s, 'latin1'), 0);
  }
  const tail = (s, skip) => offsetOf.get(s) + skip;
  const nameOffs = [
    offsetOf.get('foo'),
    offsetOf.get('foo___v1'),
    offsetOf.get('foo___v1___v2'),
    tail('xfoo___v3', 1), // foo___v3
    offsetOf.get('xfoo___v3'),
    offsetOf.get('foo_bar___v1'),
    offsetOf.get('foo____x'),
    offsetOf.get('foo___'),
    tail('zfoo', 1), // foo
    offsetOf.get('bar'),
    0,
    offsetOf.get('foo'),
    ...Array.from({ length: 20 }, (_, i) => tail(`s${i}foo`, `s${i}`.length)), // foo, 20 times
    ...Array.from({ length: 20 }, (_, i) => offsetOf.get(`s${i}foo`)),
  ];
  const blobOf = (strs, names) => {
    const types = Buffer.alloc(12 * names.length);
    names.forEach((off, i) => {
      types.writeUInt32LE(off, 12 * i);
      types.writeUInt32LE(BtfKind.Struct << 24, 12 * i + 4); // vlen 0
      types.writeUInt32LE(4, 12 * i + 8);
    });
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr[2] = 1;
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(0, 8);
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16);
    hdr.writeUInt32LE(strs.length, 20);
    return new Uint8Array(Buffer.concat([hdr, types, Buffer.from(strs)]));
  };
  const check = (blob, label) => {
    const all = parseBtf(blob);
    const queries = ['foo', 'foo___v1', 'foo_bar', 'foo____x', 'foo___', 'bar', 'xfoo', 'zfoo', 'nothing', 's3foo', 'oo'];
    const expectExact = (q) => all.filter((t) => t.name !== '' && t.name === q).map((t) => t.id);
    const expectEssential = (q) => all.filter((t) => t.name !== '' && essentialName(t.name) === q).map((t) => t.id);
    const btf = TargetBtf.fromBytes(blob, label).vmlinux;
    for (const q of queries) assert.deepEqual([...btf.idsByEssentialName(q)], expectEssential(q), `${label}: essential ${q}`);
    for (const q of queries) assert.deepEqual([...btf.idsByName(q)], expectExact(q), `${label}: exact ${q}`);
    // Past the first 64 names the hash index answers: the same ids.
    const again = TargetBtf.fromBytes(blob, label).vmlinux;
    for (let i = 0; i < 70; i++) again.idsByName(`filler${i}`);
    for (const q of queries) assert.deepEqual([...again.idsByName(q)], expectExact(q), `${label}: indexed ${q}`);
    for (const q of queries)
      assert.deepEqual([...again.idsByEssentialName(q)], expectEssential(q), `${label}: indexed essential ${q}`);
  };
  check(blobOf(table, nameOffs), 'terminated');
  // The last string without its NUL: a name at the very end of the table is still found.
  const open = [...table, ...Buffer.from('foo', 'latin1')];
  check(blobOf(open, [...nameOffs, table.length]), 'unterminated');
});

test('parseBtf names: an ASCII table and a UTF-8 one decode alike; an offset past the table is a BtfParseError', () => {
  const blobOf = (strs, names) => {
    const types = Buffer.alloc(12 * names.length);
    names.forEach((off, i) => {
      types.writeUInt32LE(off, 12 * i);
      types.writeUInt32LE(BtfKind.Struct << 24, 12 * i + 4);
      types.writeUInt32LE(4, 12 * i + 8);
    });
    const hdr = Buffer.alloc(24);
    hdr.writeUInt16LE(0xeb9f, 0);
    hdr[2] = 1;
    hdr.writeUInt32LE(24, 4);
    hdr.writeUInt32LE(types.length, 12);
    hdr.writeUInt32LE(types.length, 16);
    hdr.writeUInt32LE(strs.length, 20);
    return new Uint8Array(Buffer.concat([hdr, types, strs]));
  };
  const ascii = Buffer.from('\0alpha\0beta\0', 'latin1');
  assert.deepEqual(
    parseBtf(blobOf(ascii, [1, 7, 0, 8, 11])).map((t) => t.name),
    ['alpha', 'beta', '', 'eta', ''],
  );
  const utf8 = Buffer.from('\0caf\u00e9\0beta\0', 'utf8');
  assert.deepEqual(
    parseBtf(blobOf(utf8, [1, 7, 0])).map((t) => t.name),
    ['caf\u00e9', 'beta', ''],
  );
  for (const strs of [ascii, utf8])
    assert.throws(() => parseBtf(blobOf(strs, [1, strs.length])), {
      name: 'BtfParseError',
      message: `string offset ${strs.length} is outside the string section`,
    });
});
