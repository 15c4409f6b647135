// Bad input to openObject/loadObject: truncated and corrupted ELF files, sections past the end,
// symbol and relocation indexes out of range, relocations on the wrong instruction. Each is an
// ObjectError naming the section and offset, never a crash or hang, and nothing stays in the
// kernel. Then a time-bounded fuzz of real objects: every mutation opens or fails with ObjectError.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ObjectError, loadObject, openObject } from 'bpfmap';
import { buildObject } from './fixtures/obj/build.mjs';
import { bpftool, openFdCount } from './helpers/kernel.mjs';

/** Section headers of an ELF64 LE file: name, header offset, and the fields tests change. */
function sections(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(v.getBigUint64(40, true));
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  const hdr = (i) => shoff + 64 * i;
  const strOff = Number(v.getBigUint64(hdr(shstrndx) + 24, true));
  const out = [];
  for (let i = 0; i < shnum; i++) {
    const h = hdr(i);
    const nameOff = v.getUint32(h, true);
    const end = bytes.indexOf(0, strOff + nameOff);
    out.push({
      index: i,
      name: Buffer.from(bytes.subarray(strOff + nameOff, end)).toString('latin1'),
      header: h,
      type: v.getUint32(h + 4, true),
      offset: Number(v.getBigUint64(h + 24, true)),
      size: Number(v.getBigUint64(h + 32, true)),
      info: v.getUint32(h + 44, true),
    });
  }
  return { v, list: out, byName: (n) => out.find((s) => s.name === n) };
}

function objectBytes(name) {
  return new Uint8Array(readFileSync(buildObject(name)));
}

function expectObjectError(bytes, re, where = {}) {
  assert.throws(
    () => openObject(bytes),
    (e) => {
      assert.ok(e instanceof ObjectError, `expected ObjectError, got ${e?.name}: ${e?.message}`);
      assert.match(e.message, re);
      for (const [k, val] of Object.entries(where)) assert.equal(e[k], val, `${k} of: ${e.message}`);
      return true;
    },
  );
}

test('not ELF, 32-bit, big-endian, another machine, truncated header: each says what was expected', () => {
  const good = objectBytes('maps');
  expectObjectError(new Uint8Array(0), /not an ELF file.*magic/);
  expectObjectError(new TextEncoder().encode('#!/bin/sh\necho hi\n'), /not an ELF file/);
  const b32 = good.slice();
  b32[4] = 1;
  expectObjectError(b32, /expected a 64-bit ELF file.*32-bit/, { offset: 4 });
  const be = good.slice();
  be[5] = 2;
  expectObjectError(be, /expected a little-endian ELF file.*big-endian/, { offset: 5 });
  const x86 = good.slice();
  new DataView(x86.buffer).setUint16(18, 62, true);
  expectObjectError(x86, /expected a BPF object \(e_machine 247, EM_BPF\), got machine 62/, { offset: 18 });
  expectObjectError(good.subarray(0, 40), /truncated ELF header: expected 64 bytes, the file has 40/);
  assert.throws(() => openObject(42), TypeError);
});

test('truncated files: every cut is an ObjectError, never another exception', () => {
  const good = objectBytes('globals');
  const cuts = [64, 100, 1000, good.length >> 1, good.length - 200, good.length - 64, good.length - 1];
  for (const n of cuts) expectObjectError(good.subarray(0, n), /past the end of the file|runs past/);
});

test('a section past the end of the file names the section header', () => {
  const bytes = objectBytes('maps');
  const { v, byName } = sections(bytes);
  const maps = byName('.maps');
  v.setBigUint64(maps.header + 24, BigInt(bytes.length - 4), true);
  expectObjectError(bytes, new RegExp(`section ${maps.index} runs past the end of the file`), { offset: maps.header });
});

test('a relocation with a symbol index out of range names the relocation section and entry offset', () => {
  const bytes = objectBytes('maps');
  const { v, byName } = sections(bytes);
  const rel = byName('.relxdp');
  v.setUint32(rel.offset + 16 + 12, 0xfffff, true); // second entry's r_sym
  expectObjectError(bytes, /refers to symbol 1048575, but the symbol table has \d+ symbols/, { section: '.relxdp', offset: 16 });
});

test('a relocation on an instruction that is not ld_imm64 or call names the section and offset', () => {
  const bytes = objectBytes('globals');
  const { v, byName } = sections(bytes);
  const rel = byName('.relsyscall');
  const code = byName('syscall');
  const target = Number(v.getBigUint64(rel.offset, true)); // first relocation's r_offset
  assert.equal(bytes[code.offset + target], 0x18);
  bytes[code.offset + target] = 0xb7; // mov r, imm
  assert.throws(
    () => openObject(bytes),
    (e) =>
      e instanceof ObjectError &&
      e.section === '.relsyscall' &&
      e.offset === 0 &&
      /is on instruction opcode 0xb7: expected ld_imm64 \(0x18\) or call \(0x85\)/.test(e.message),
  );
});

test('a relocation past its section, a symbol in no section, a bad string offset', () => {
  {
    const bytes = objectBytes('globals');
    const { v, byName } = sections(bytes);
    const rel = byName('.relsyscall');
    v.setBigUint64(rel.offset + 16, 1n << 40n, true);
    assert.throws(
      () => openObject(bytes),
      (e) => e instanceof ObjectError && e.section === '.relsyscall' && /not on an instruction/.test(e.message),
    );
  }
  {
    const bytes = objectBytes('maps');
    const { v, byName } = sections(bytes);
    const maps = byName('.maps');
    v.setUint32(maps.header, 0xffffff, true); // sh_name
    expectObjectError(bytes, /string offset 16777215 is outside the string table/);
  }
});

test('a load failing part-way closes every map, program and BTF it made', async () => {
  const before = openFdCount();
  const ids = new Set(bpftool('map', 'show').map((m) => m.id));
  for (let i = 0; i < 3; i++) assert.throws(() => loadObject(buildObject('refused')), ObjectError);
  assert.equal(openFdCount(), before);
  // The kernel frees maps after their last reference goes, in a work queue: give it a moment.
  let mine;
  for (let tries = 0; tries < 50; tries++) {
    mine = bpftool('map', 'show').filter((m) => !ids.has(m.id) && (m.name === 'lru' || m.name === 'refused.bss'));
    if (mine.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(mine, []);
});

test('fuzz: mutated real objects open or fail with ObjectError, quickly (time-bounded)', () => {
  const seeds = ['maps', 'globals', 'core', 'legacy'].map(objectBytes);
  // A fixed seed by default (reproducible); BPFMAP_FUZZ_SEED=n explores others.
  let seed = Number(process.env.BPFMAP_FUZZ_SEED ?? 0x9e3779b9) | 0 || 1;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const deadline = Date.now() + 8000;
  let runs = 0;
  let opened = 0;
  let slowest = 0;
  while (Date.now() < deadline) {
    const base = seeds[runs % seeds.length];
    const b = base.slice();
    const n = 1 + Math.floor(rand() * 8);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rand() * b.length);
      const r = rand();
      if (r < 0.4) b[at] = Math.floor(rand() * 256);
      else if (r < 0.7) b[at] ^= 1 << Math.floor(rand() * 8);
      else if (r < 0.85 && at + 4 <= b.length)
        new DataView(b.buffer).setUint32(at, [0, 0xffffffff, 0x7fffffff, 1, 64][Math.floor(rand() * 5)], true);
      else b[at] = 0;
    }
    const input = rand() < 0.05 ? b.subarray(0, Math.floor(rand() * b.length)) : b;
    const t0 = performance.now();
    try {
      const spec = openObject(input);
      // What a user reads of a spec must not throw anything else either.
      for (const v of Object.values(spec.variables)) v.get();
      opened++;
    } catch (e) {
      if (!(e instanceof ObjectError)) {
        throw new Error(`run ${runs}: ${e?.stack}\nmutations of ${['maps', 'globals', 'core', 'legacy'][runs % 4]}`, {
          cause: e,
        });
      }
    }
    slowest = Math.max(slowest, performance.now() - t0);
    runs++;
  }
  console.log(
    `# seed ${process.env.BPFMAP_FUZZ_SEED ?? 'default'}: ${runs} mutated objects, ${opened} opened, slowest ${slowest.toFixed(1)} ms`,
  );
  assert.ok(runs > 100);
  assert.ok(slowest < 2000, `one openObject took ${slowest} ms`);
});
