// Pinning: a pinned map is the same map in this process, in a second Node process, and for bpftool.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { BpfMap, MapType } from 'bpfmap';
import { bpftool, closeAfter, pinPath, tmpMap, u32 } from './helpers/kernel.mjs';

const child = fileURLToPath(new URL('./helpers/pinned-child.mjs', import.meta.url));

test('pin then openPinned in this process and in a second Node process sees the same contents', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'pinned', keySize: 4, valueSize: 4, maxEntries: 8 });
  for (let i = 0; i < 3; i++) m.update(u32(i), u32(i * 10));
  const path = pinPath(t, 'shared');
  m.pin(path);
  assert.equal(bpftool('map', 'show', 'pinned', path).id, m.id);

  const same = closeAfter(t, BpfMap.openPinned(path));
  assert.equal(same.id, m.id);
  assert.deepEqual(same.lookup(u32(2)), u32(20));

  const out = JSON.parse(execFileSync(process.execPath, [child, path, '07000000'], { encoding: 'utf8' }));
  assert.equal(out.id, m.id);
  assert.deepEqual(out.entries, [
    ['00000000', '00000000'],
    ['01000000', '0a000000'],
    ['02000000', '14000000'],
  ]);
  assert.deepEqual(m.lookup(u32(7)), Uint8Array.from([0xab, 0xab, 0xab, 0xab]), 'the second process wrote to our map');
});

test('the map outlives its creator while pinned; unpin removes the path', (t) => {
  const path = pinPath(t, 'outlive');
  const m = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2 });
  m.update(u32(1), u32(99));
  const id = m.id;
  m.pin(path);
  m.close();
  const back = closeAfter(t, BpfMap.openPinned(path));
  assert.equal(back.id, id);
  assert.deepEqual(back.lookup(u32(1)), u32(99));
  back.unpin(path);
  assert.equal(existsSync(path), false);
  assert.throws(
    () => BpfMap.openPinned(path),
    (e) => e.code === 'ENOENT' && /nothing is pinned/.test(e.message),
  );
  assert.throws(
    () => back.pin('/sys/fs/bpf/no/such/dir/x'),
    (e) => e.code === 'ENOENT' && e.command === 'BPF_OBJ_PIN',
  );
});
