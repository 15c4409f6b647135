// BTF generated from codecs: loaded into the kernel, attached to maps, read back by bpftool; BPF_F_LOCK
// on values with a bpf_spin_lock; and the errors for what BTF cannot say or the kernel refuses.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { test } from 'node:test';
import {
  BPF_F_LOCK,
  BpfError,
  BpfMap,
  Btf,
  BtfBuildError,
  BtfBuilder,
  MapType,
  array,
  bpfSpinLock,
  cstring,
  defineStruct,
  mapTypeBtf,
  u32,
  u64,
} from 'bpfmap';
import { bpftool, fromHex, tmpMap } from './helpers/kernel.mjs';

const flow = defineStruct('flow', {
  src: array('u32', 4),
  dst: 'be32',
  port: 'u16',
  tag: cstring(6),
  ok: 'bool',
  delta: 'i16',
  big: 'u64',
});

test('a map created from struct codecs carries BTF: bpftool prints named fields', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'btf_flow', key: u32, value: flow, maxEntries: 4 });
  const info = bpftool('map', 'show', 'id', m.id);
  assert.ok(info.btf_id > 0, 'the kernel recorded a btf_id');
  m.typed().set(7, { src: [1, 2, 3, 4], dst: 0x0a000001, port: 443, tag: 'web', ok: true, delta: -5, big: 2n ** 40n });
  const [entry] = bpftool('map', 'dump', 'id', m.id);
  assert.deepEqual(entry.formatted.key, 7);
  const v = entry.formatted.value;
  assert.deepEqual(v.src, [1, 2, 3, 4]);
  assert.equal(v.port, 443);
  assert.equal(v.tag, 'web');
  assert.equal(v.ok, true);
  assert.equal(v.delta, -5);
  assert.equal(v.big, 2 ** 40);
  // be32 is stored big-endian: bpftool (which reads host order through the __be32 typedef) sees the swapped number.
  assert.equal(v.dst, 0x0100000a);
  // The BTF itself, as C: the struct with its members in order.
  const c = execFileSync('bpftool', ['btf', 'dump', 'id', String(info.btf_id), 'format', 'c'], { encoding: 'utf8' });
  assert.match(
    c,
    /struct flow \{\s+unsigned int src\[4\];\s+__be32 dst;\s+unsigned short port;\s+char tag\[6\];\s+_Bool ok;\s+short delta;\s+unsigned long long big;\s+\};/,
  );
  assert.match(c, /typedef __u32 __be32;/);
});

test('a side without a codec is described as an integer of its size, or unsigned char[n]', (t) => {
  const a = tmpMap(t, { type: MapType.Hash, key: u64, valueSize: 4, maxEntries: 2 });
  a.update(u64.encode(5n), Uint8Array.from([9, 0, 0, 0]));
  assert.deepEqual(bpftool('map', 'dump', 'id', a.id)[0].formatted, { key: 5, value: 9 });
  const b = tmpMap(t, { type: MapType.Array, key: u32, valueSize: 3, maxEntries: 1 });
  b.update(u32.encode(0), Uint8Array.from([1, 2, 3]));
  assert.deepEqual(bpftool('map', 'dump', 'id', b.id)[0].formatted, { key: 0, value: [1, 2, 3] });
  const plain = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.equal(bpftool('map', 'show', 'id', plain.id).btf_id, undefined, 'no codecs, no BTF');
});

test('map types that refuse BTF are created without it, codecs still apply', (t) => {
  const q = tmpMap(t, { type: MapType.Queue, keySize: 0, value: u64, maxEntries: 2 });
  assert.equal(bpftool('map', 'show', 'id', q.id).btf_id, undefined);
  q.push(u64.encode(3n));
  assert.deepEqual(u64.decode(q.pop()), 3n);
});

const counter = defineStruct('counter', { lock: bpfSpinLock, hits: 'u64', last: 'u32' });

test('BPF_F_LOCK: updates and lookups of a spin-locked value go through the lock', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: counter, maxEntries: 4 });
  m.updateStructInt(1, { hits: 10n, last: 3 }, counter, { flags: BPF_F_LOCK });
  assert.deepEqual(m.lookupStructInt(1, counter, { flags: BPF_F_LOCK }), { hits: 10n, last: 3 });
  const tm = m.typed();
  tm.set(2, { hits: 1n, last: 1 });
  assert.deepEqual(tm.get(2), { hits: 1n, last: 1 });
  // The array map too (its BTF key must be a 4-byte int: u32 is).
  const a = tmpMap(t, { type: MapType.Array, key: u32, value: counter, maxEntries: 2 });
  a.updateStructInt(1, { hits: 5n, last: 0 }, counter, { flags: BPF_F_LOCK });
  assert.deepEqual(a.lookupStructInt(1, counter, { flags: BPF_F_LOCK }), { hits: 5n, last: 0 });
  // Without BTF, the kernel refuses the flag, and the error says why.
  const bare = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: counter.size, maxEntries: 2 });
  assert.throws(
    () => bare.update(u32.encode(1), new Uint8Array(counter.size), { flags: BPF_F_LOCK }),
    (e) => BpfError.is(e, 'EINVAL') && /bpf_spin_lock described by BTF/.test(e.message),
  );
});

test('what BTF cannot say is refused before the kernel is asked, naming the field', () => {
  const twoLocks = defineStruct('two', { a: bpfSpinLock, b: bpfSpinLock });
  assert.throws(
    () => BpfMap.create({ type: MapType.Hash, key: u32, value: twoLocks, maxEntries: 1 }),
    (e) => e instanceof BtfBuildError && /struct two has 2 bpf_spin_lock fields/.test(e.message),
  );
  const inArray = defineStruct('locks', { l: array(defineStruct('inner', { lock: bpfSpinLock }), 2) });
  assert.throws(() => mapTypeBtf(u32, inArray, 4, inArray.size), /value\.l: a bpf_spin_lock cannot be inside an array/);
  const packed = defineStruct('p', { c: 'u8', lock: bpfSpinLock }, { packed: true });
  assert.throws(
    () => mapTypeBtf(u32, packed, 4, packed.size),
    /value\.lock: a bpf_spin_lock must be 4-byte aligned, it is at offset 1/,
  );
});

test('a BTF blob the kernel refuses comes back as BpfError with the kernel log', () => {
  const b = new BtfBuilder();
  b.typedef('1st', b.int('unsigned int', 4)); // not a C identifier
  assert.throws(
    () => Btf.load(b.build()),
    (e) =>
      BpfError.is(e, 'EINVAL') &&
      e.command === 'BPF_BTF_LOAD' &&
      /\[2\] TYPEDEF 1st.*Invalid name/.test(e.log) &&
      e.message.includes(e.log),
  );
  assert.throws(() => Btf.load(new Uint8Array(0)), TypeError);
});

test('Btf owns its fd: close() is idempotent, and a closed Btf says so', () => {
  const btf = Btf.load(mapTypeBtf(u32, flow, 4, flow.size).blob);
  assert.ok(btf.fd > 0);
  const fd = btf.fd;
  assert.match(readlinkSync(`/proc/self/fd/${fd}`), /anon_inode:btf/);
  btf.close();
  btf.close();
  assert.equal(btf.fd, -1);
  assert.throws(
    () => btf.liveFd('BPF_MAP_CREATE'),
    (e) => BpfError.is(e, 'EBADF'),
  );
});

test('LPM-trie keys without a struct codec are described as struct bpf_lpm_trie_key_u8', (t) => {
  const m = tmpMap(t, { type: MapType.LpmTrie, keySize: 8, value: u32, maxEntries: 4, flags: 1 /* BPF_F_NO_PREALLOC */ });
  m.update(Uint8Array.from([24, 0, 0, 0, 10, 1, 2, 0]), u32.encode(99));
  const [entry] = bpftool('map', 'dump', 'id', m.id);
  assert.deepEqual(entry.formatted, { key: { prefixlen: 24, data: [10, 1, 2, 0] }, value: 99 });
  assert.deepEqual(fromHex(entry.key), Uint8Array.from([24, 0, 0, 0, 10, 1, 2, 0]));
});
