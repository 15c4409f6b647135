// The bpfmap command given hostile input (issue 13, items 9 and 14, and repeated words): integers that
// would wrap, pins named with terminal escape sequences and newlines, symlink loops in a bpffs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MapType, defineStruct, u32 } from 'bpfmap';
import { ensureBpffs, pinPath, tmpMap } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args.map(String)], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, error: r.error };
}

test('integers out of range for the key or value are usage errors (exit 2), never wrapped', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 8 });
  m.update(u32.encode(1), new Uint8Array(8).fill(1));
  for (const [args, what] of [
    [['delete', 'id', m.id, '--key-int', '-4294967295'], 'a key that wraps to 1'],
    [['delete', 'id', m.id, '--key-int', '4294967296'], 'a key one past u32'],
    [['delete', 'id', m.id, '--key-int', '-2147483649'], 'a key one below i32'],
    [['update', 'id', m.id, '--key-int', '2', '--value-int', '-18446744073709551614'], 'a value that wraps to 2'],
    [['update', 'id', m.id, '--key-int', '2', '--value-int', '18446744073709551616'], 'a value one past u64'],
  ]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${what}: exit ${r.code}, ${r.err}`);
    assert.match(r.err, /out of range|from -\d+ to \d+/, what);
  }
  assert.ok(m.lookup(u32.encode(1)), 'key 1 is still there');
  assert.equal(m.lookup(u32.encode(2)), undefined, 'nothing was stored under key 2');
  // The ends of the range still work: -1 is 0xffffffff, as C stores it.
  assert.equal(cli('update', 'id', m.id, '--key-int', '-1', '--value-int', '-9223372036854775808').code, 0);
  assert.deepEqual([...m.lookup(u32.encode(0xffffffff))], [0, 0, 0, 0, 0, 0, 0, 0x80]);
  assert.equal(cli('update', 'id', m.id, '--key-int', '4294967295', '--value-int', '18446744073709551615').code, 0);
});

test('a word or option given twice is a usage error, not "the last one wins"', (t) => {
  ensureBpffs();
  const path = pinPath(t, 'cli_twice');
  const r = cli('create', path, 'type', 'hash', 'key', '4', 'value', '4', 'entries', '4', 'type', 'array');
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /type.*twice/);
  const m = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 8 });
  m.update(u32.encode(1), u32.encode(1));
  const d = cli('delete', 'id', m.id, '--key-int', '2', '--key-int', '1');
  assert.equal(d.code, 2, d.err);
  assert.match(d.err, /--key-int.*twice/);
  assert.ok(m.lookup(u32.encode(1)), 'nothing was deleted');
});

test('list and show escape control characters in pinned paths: no escape sequence or newline reaches the terminal', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'cli_hostile', keySize: 4, valueSize: 4, maxEntries: 1 });
  const path = pinPath(t, 'evil\x1b]0;x\x07\x1b[2J\nrow');
  m.pin(path);
  for (const args of [['list'], ['show', 'id', m.id]]) {
    const r = cli(...args);
    assert.equal(r.code, 0, r.err);
    const controls = [...r.out].filter((c) => c !== '\n' && c !== '\t' && (c < ' ' || c === '\x7f'));
    assert.deepEqual(controls, [], `${args[0]}: no control characters but newline and tab`);
    const lines = r.out.split('\n').filter((l) => l.includes('evil'));
    assert.equal(lines.length, 1, `${args[0]}: the path stays on one line`);
    assert.ok(lines[0].includes('evil\\x1b]0;x\\x07\\x1b[2J\\nrow'), `${args[0]}: escaped as \\xNN / \\n: ${lines[0]}`);
  }
  const j = JSON.parse(cli('list', '--json').out);
  assert.deepEqual(j.find((x) => x.id === m.id).pinned, [path], 'JSON keeps the real path');
});

test('list never follows symlinks in a bpffs: a symlink loop ends fast and each pin is printed once', (t) => {
  ensureBpffs();
  const dir = `/sys/fs/bpf/bpfmap_test_${process.pid}_loop`;
  mkdirSync(`${dir}/a`, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const m = tmpMap(t, { type: MapType.Hash, name: 'cli_loop', keySize: 4, valueSize: 4, maxEntries: 1 });
  m.pin(`${dir}/a/m`);
  symlinkSync('..', `${dir}/a/up`); // a/up/a/up/… forever when followed
  symlinkSync(dir, `${dir}/a/self`);
  symlinkSync(`${dir}/a/m`, `${dir}/link`);
  execFileSync('ls', [dir]); // (bpffs takes symlinks)
  const start = Date.now();
  const r = cli('list', '--json');
  const ms = Date.now() - start;
  assert.equal(r.code, 0, r.err ?? String(r.error));
  assert.ok(ms < 5000, `list took ${ms} ms`);
  const pins = JSON.parse(r.out).find((x) => x.id === m.id).pinned;
  assert.deepEqual(pins, [`${dir}/a/m`], 'the pin once, by its real path');
});

test('a BTF member named __proto__ shows in dump and lookup output, and typedFromBtf round-trips it (item 10)', (t) => {
  const p = defineStruct('proto_rec', JSON.parse('{"a": "u32", "__proto__": "u32"}'));
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: p, maxEntries: 4 });
  m.update(u32.encode(1), p.encode(JSON.parse('{"a": 5, "__proto__": 7}')));
  const typed = m.typedFromBtf();
  const v = typed.get(1);
  assert.ok(Object.hasOwn(v, '__proto__'), 'typedFromBtf: own field');
  assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 7); // a field, not the prototype
  typed.set(2, typed.get(1));
  assert.deepEqual([...m.lookup(u32.encode(2))], [5, 0, 0, 0, 7, 0, 0, 0], 't.set(k, t.get(k)) round-trips');
  const r = cli('dump', 'id', m.id, '--json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /"__proto__":7/, r.out);
  const text = cli('lookup', 'id', m.id, '--key-int', 1);
  assert.match(text.out, /__proto__: 7/, text.out);
});
