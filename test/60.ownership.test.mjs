// fd ownership: every fd the library opens is closed by close(), and a forgotten map by the garbage collector.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfMap, MapType } from 'bpfmap';
import { gcChild, openFdCount } from './helpers/kernel.mjs';

test('creating and closing 2,000 maps leaves the fd count where it started', () => {
  const before = openFdCount();
  for (let i = 0; i < 2000; i++) BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 }).close();
  assert.equal(openFdCount(), before);
});

test('maps dropped without close() are closed by the garbage collector', () => {
  const script = `
    import { BpfMap, MapType } from 'bpfmap';
    import { readdirSync } from 'node:fs';
    const count = () => readdirSync('/proc/self/fd').length;
    const before = count();
    for (let i = 0; i < 500; i++) BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
    const leaked = count() - before;
    for (let i = 0; i < 10 && count() > before; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ leaked, after: count() - before }));`;
  const out = gcChild(script);
  assert.equal(out.leaked, 500, 'the maps were open before collection');
  assert.equal(out.after, 0, 'all were closed after collection');
});

test('programs and BTF objects: close() frees the fd, and dropped ones are closed by the garbage collector', () => {
  const script = `
    import { Asm, Btf, ProgType, R0, loadProgram, mapTypeBtf, u32, u64 } from 'bpfmap';
    import { readdirSync } from 'node:fs';
    const count = () => readdirSync('/proc/self/fd').length;
    const insns = new Asm().mov64(R0, 0).exit();
    const blob = mapTypeBtf(u32, u64, 4, 8).blob;
    const start = count();
    for (let i = 0; i < 200; i++) loadProgram({ type: ProgType.SocketFilter, instructions: insns }).close();
    for (let i = 0; i < 200; i++) Btf.load(blob).close();
    const afterClose = count() - start;
    for (let i = 0; i < 200; i++) loadProgram({ type: ProgType.SocketFilter, instructions: insns });
    for (let i = 0; i < 200; i++) Btf.load(blob);
    const leaked = count() - start;
    for (let i = 0; i < 10 && count() > start; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    console.log(JSON.stringify({ afterClose, leaked, after: count() - start }));`;
  const out = gcChild(script);
  assert.equal(out.afterClose, 0, 'close() released every fd');
  assert.equal(out.leaked, 400, 'the dropped ones were open before collection');
  assert.equal(out.after, 0, 'all were closed after collection');
});
