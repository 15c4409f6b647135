// Reading BTF back: a map created by bpftool (libbpf) from a clang-compiled object reads as records
// through its own BTF, with no definition; and the codecs built from BTF encode what C lays out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BpfMap, BtfKind, BtfSpec, MapType, array, defineStruct, parseBtf, readBtf, u32 } from 'bpfmap';
import { BPFFS, bpftool, ensureBpffs, tmpMap } from './helpers/kernel.mjs';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const multiarch = `/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;

/** Builds the fixture object with clang and the expected bytes with cc; loads it with bpftool. */
function foreignMap(t) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-btf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const obj = join(dir, 'foreign.o');
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${multiarch}`, '-c', join(fixtures, 'foreign.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-o', join(dir, 'value'), join(fixtures, 'foreign-value.c')]);
  const expected = Buffer.from(execFileSync(join(dir, 'value'), { encoding: 'utf8' }).trim(), 'hex');
  ensureBpffs();
  const pins = join(BPFFS, `bpfmap_test_${process.pid}_btf`);
  mkdirSync(pins, { recursive: true });
  t.after(() => rmSync(pins, { recursive: true, force: true }));
  execFileSync('bpftool', ['prog', 'loadall', obj, join(pins, 'progs'), 'type', 'socket', 'pinmaps', join(pins, 'maps')]);
  const map = BpfMap.openPinned(join(pins, 'maps', 'foreign'));
  t.after(() => map.close());
  return { map, expected: new Uint8Array(expected) };
}

const record = {
  packets: 1234567890123n,
  color: 'BLUE',
  cv: 77,
  pos: { x: 3, y: 65535 },
  fl: { a: 5, b: 17, c: -3, big: 0xabcdef0123n },
  n: { u: 0x40490fdb },
  comm: 'bash',
  addr: 0x0a000001,
  p: 9,
  q: 250,
  arr: [-1, 0, 2147483647],
  ok: true,
  delta: -42n,
};

test('a map libbpf created from a clang object reads as records through its BTF', (t) => {
  const { map, expected } = foreignMap(t);
  assert.equal(map.type, MapType.Hash);
  assert.equal(map.valueSize, expected.length, 'cc and clang agree on sizeof(struct value)');
  map.update(u32.encode(1), expected);
  const tm = map.typedFromBtf();
  assert.equal(tm.valueType.name, 'struct value');
  // enums by name, bitfields (signed, and wider than 32 bits), typedef'd and const volatile members,
  // the union's first member, char[] as a string, __be32, the anonymous struct's members lifted.
  assert.deepEqual(tm.get(1), record);
  // The same record encodes to the bytes cc produced.
  tm.set(2, record);
  assert.deepEqual(map.lookup(u32.encode(2)), expected);
  assert.deepEqual([...tm.keys()].sort(), [1, 2]);
  // bpftool, reading the same BTF, agrees on the plain fields.
  const dumped = bpftool('map', 'dump', 'id', map.id).find((e) => e.formatted.key === 1).formatted.value;
  assert.equal(dumped.packets, 1234567890123);
  assert.deepEqual(dumped.pos, { x: 3, y: 65535 });
  assert.equal(dumped.comm, 'bash');
  assert.equal(dumped.color, 'BLUE');
});

test('codecs read from BTF describe new maps in BTF again: enums, unions, bitfields and all', (t) => {
  const { map, expected } = foreignMap(t);
  const foreign = map.typedFromBtf();
  const copy = tmpMap(t, { type: MapType.Hash, key: foreign.keyType, value: foreign.valueType, maxEntries: 4 });
  const tm = copy.typedFromBtf();
  tm.set(1, record);
  assert.deepEqual(copy.lookup(u32.encode(1)), expected, 'the same bytes cc lays out');
  assert.deepEqual(tm.get(1), record);
  const ours = bpftool('map', 'dump', 'id', copy.id)[0].formatted.value;
  map.update(u32.encode(1), expected);
  const theirs = bpftool('map', 'dump', 'id', map.id).find((e) => e.formatted.key === 1).formatted.value;
  // Records lift the anonymous struct's members and keep a union's first member only, so the copy
  // names p and q directly and its union has just u; everything else, bitfields included, matches.
  const { '': anon, n, ...theirsRest } = theirs;
  assert.deepEqual(anon, { p: 9, q: 250 });
  assert.deepEqual(ours, { ...theirsRest, n: { u: n.u }, p: 9, q: 250 }, 'bpftool formats both maps alike');
});

test('enum values: by name or number in, by name out (the number when unnamed); bad names refused', (t) => {
  const { map } = foreignMap(t);
  const tm = map.typedFromBtf();
  tm.set(3, { ...record, color: 2 });
  assert.equal(tm.get(3).color, 'GREEN');
  tm.set(3, { ...record, color: 7 });
  assert.equal(tm.get(3).color, 7);
  assert.throws(() => tm.set(3, { ...record, color: 'PURPLE' }), /value\.color: expected one of RED, GREEN, BLUE, got "PURPLE"/);
  assert.throws(
    () => tm.set(3, { ...record, fl: { ...record.fl, a: 8 } }),
    /value\.fl\.a: expected an integer from 0 to 7, got 8/,
  );
  assert.throws(() => tm.set(3, { ...record, fl: { ...record.fl, c: -9 } }), /value\.fl\.c: expected an integer from -8 to 7/);
  assert.throws(() => tm.set(3, { ...record, extra: 1 }), /value\.extra: unknown field/);
  assert.equal(tm.get(3).color, 7, 'the refused writes left the last good value');
});

test('readBtf and parseBtf: the types behind a map, as the kernel holds them', (t) => {
  const { map } = foreignMap(t);
  const info = map.info();
  const spec = readBtf(info.btfId);
  assert.ok(spec instanceof BtfSpec);
  assert.equal(spec.cName(info.btfValueTypeId), 'struct value');
  assert.equal(spec.sizeOf(info.btfValueTypeId), map.valueSize);
  const value = spec.type(info.btfValueTypeId);
  assert.equal(value.kind, BtfKind.Struct);
  assert.deepEqual(
    value.members.map((m) => m.name),
    ['packets', 'color', 'cv', 'pos', 'fl', 'n', 'comm', 'addr', '', 'arr', 'ok', 'delta'],
  );
  const flags = spec.types.find((x) => x.kind === BtfKind.Struct && x.name === 'flags');
  assert.deepEqual(
    flags.members.map((m) => [m.name, m.bitOffset, m.bitSize]),
    [
      ['a', 0, 3],
      ['b', 3, 5],
      ['c', 8, 4],
      ['big', 12, 40],
    ],
  );
  assert.throws(() => parseBtf(new Uint8Array(8)), /shorter than its header/);
  assert.throws(() => spec.codec(0), /void has no values/);
});

test('maps this library created read back through their BTF too; maps without BTF say so', (t) => {
  const s = defineStruct('s', { a: 'u32', b: array('i16', 2), name: 'u64' });
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: s, maxEntries: 2 });
  m.typed().set(5, { a: 1, b: [-1, 2], name: 3n });
  assert.deepEqual(m.typedFromBtf().get(5), { a: 1, b: [-1, 2], name: 3n });
  const q = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => q.typedFromBtf(), /has no BTF for its value: use typed\(keyType, valueType\)/);
});
