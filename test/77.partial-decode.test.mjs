// Variable-length records (bcc's execsnoop sends 68 bytes of a 7,720-byte struct): decode(bytes,
// { partial: true }) gives the fields wholly present; a field the bytes end inside is left out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfMap, MapType, array, cstring, defineStruct, u32 } from 'bpfmap';
import { tmpMap } from './helpers/kernel.mjs';

const inner = defineStruct('span', { lo: 'u32', hi: 'u32' });
const event = defineStruct('event', {
  pid: 'u32',
  ppid: 'u32',
  uid: 'u32',
  retval: 'i32',
  args_count: 'u32',
  args_size: 'u32',
  comm: cstring(16),
  span: inner,
  args: array('u8', 7672),
});

function record(n) {
  const full = event.encode(
    event.make({ pid: 101, ppid: 1, uid: 0, retval: -2, args_count: 3, args_size: 40, comm: 'bash', span: { lo: 5, hi: 6 } }),
  );
  return full.slice(0, n);
}

test('a defineStruct record decodes from a prefix with { partial: true }', () => {
  assert.equal(event.size, 7720);
  assert.throws(() => event.decode(record(68)), RangeError, 'without partial, short bytes are still refused');
  assert.deepEqual(event.decode(record(68), { partial: true }), {
    pid: 101,
    ppid: 1,
    uid: 0,
    retval: -2,
    args_count: 3,
    args_size: 40,
    comm: 'bash',
    span: { lo: 5, hi: 6 },
  });
  // The bytes end inside span: span is left out, not half-read.
  assert.deepEqual(Object.keys(event.decode(record(44), { partial: true })), [
    'pid',
    'ppid',
    'uid',
    'retval',
    'args_count',
    'args_size',
    'comm',
  ]);
  // Ends inside comm: comm and what follows are left out.
  assert.deepEqual(event.decode(record(30), { partial: true }), {
    pid: 101,
    ppid: 1,
    uid: 0,
    retval: -2,
    args_count: 3,
    args_size: 40,
  });
  // Whole records decode as before, with the option or without; offsets still work.
  const whole = record(7720);
  assert.deepEqual(event.decode(whole, { partial: true }), event.decode(whole));
  const shifted = new Uint8Array(8 + 68);
  shifted.set(record(68), 8);
  assert.equal(event.decode(shifted, { offset: 8, partial: true }).comm, 'bash');
  assert.throws(() => event.decode(record(10), { offset: 11, partial: true }), RangeError);
});

test('a codec built from BTF decodes a prefix the same way', (t) => {
  const small = defineStruct('small_ev', { pid: 'u32', comm: cstring(16), ts: 'u64' });
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: small, maxEntries: 2 });
  const fromBtf = BpfMap.fromId(m.id);
  t.after(() => fromBtf.close());
  const v = fromBtf.typedFromBtf().valueType;
  const bytes = small.encode({ pid: 7, comm: 'sshd', ts: 99n });
  assert.deepEqual(v.decode(bytes.subarray(0, 20), { partial: true }), { pid: 7, comm: 'sshd' });
  assert.deepEqual(v.decode(bytes.subarray(0, 24), { partial: true }), { pid: 7, comm: 'sshd' });
  assert.deepEqual(v.decode(bytes, { partial: true }), { pid: 7, comm: 'sshd', ts: 99n });
});
