// Hostile input for the CO-RE pieces: mutated real .BTF.ext sections give a BtfExtError (never a
// crash, a hang or a huge allocation), and mutated relocations or cyclic BTF give a
// CoreRelocationError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCoreRelocations, CoreRelocationError } from '../dist/btf/core.js';
import { BtfExtError, parseBtfExt } from '../dist/btf/ext.js';
import { parseBtf } from '../dist/btf/parse.js';
import { TargetBtf } from '../dist/btf/target.js';
import { compile, readObject, tempDir } from './fixtures/core/harness.mjs';

/** A small seeded PRNG, so a failure can be replayed. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

function realObject(t) {
  const dir = tempDir(t, 'hostile');
  return readObject(compile(dir, 'fields.bpf.c', { vmlinux: false }));
}

/** Parses, returning 'ok' or the error; anything but a BtfExtError fails the test. */
function tryParse(ext, btf, what) {
  try {
    const e = parseBtfExt(ext, btf);
    let n = 0;
    for (const m of [e.funcInfo, e.lineInfo, e.coreRelos]) for (const list of m.values()) n += list.length;
    assert.ok(n <= ext.length / 8, `${what}: ${n} records out of ${ext.length} bytes`);
    return 'ok';
  } catch (err) {
    if (!(err instanceof BtfExtError)) throw new Error(`${what}: ${err?.name}: ${err?.message}`, { cause: err });
    assert.match(err.message, /^\.BTF\.ext (header|func_info|line_info|core_relo) at byte \d+: /, what);
    return err;
  }
}

test('.BTF.ext: every truncation, and bogus header words, are BtfExtErrors naming the subsection and offset', {
  timeout: 120_000,
}, (t) => {
  const { ext, btf } = realObject(t);
  assert.equal(tryParse(ext, btf, 'intact'), 'ok');
  for (let n = 0; n < ext.length; n++) {
    const r = tryParse(ext.subarray(0, n), btf, `truncated to ${n}`);
    assert.ok(r instanceof BtfExtError, `truncated to ${n} bytes parsed`);
  }
  const v = new DataView(ext.buffer, ext.byteOffset);
  const hdrLen = v.getUint32(4, true);
  for (let word = 4; word < hdrLen; word += 4) {
    for (const value of [0, 1, 3, 7, 0x7fffffff, 0xffffffff, ext.length, ext.length - hdrLen + 4]) {
      const copy = Uint8Array.from(ext);
      new DataView(copy.buffer).setUint32(word, value, true);
      tryParse(copy, btf, `header word ${word} = ${value}`);
    }
  }
});

test('.BTF.ext: bogus record sizes, huge counts and string offsets are refused before anything is allocated', (t) => {
  const { ext, btf } = realObject(t);
  const v = new DataView(ext.buffer, ext.byteOffset);
  const hdrLen = v.getUint32(4, true);
  const sub = (field) => hdrLen + v.getUint32(field, true);
  const mutate = (at, value) => {
    const copy = Uint8Array.from(ext);
    new DataView(copy.buffer).setUint32(at, value, true);
    return copy;
  };
  const expect = (bytes, subsection, offset, re) => {
    const e = tryParse(bytes, btf, subsection);
    assert.ok(e instanceof BtfExtError, `${subsection}: parsed`);
    assert.equal(e.subsection, subsection);
    assert.equal(e.offset, offset);
    assert.match(e.message, re);
  };
  expect(mutate(sub(8), 0), 'func_info', sub(8), /record size 0/);
  expect(mutate(sub(16), 6), 'line_info', sub(16), /record size 6/);
  expect(mutate(sub(16), 18), 'line_info', sub(16), /record size 18 \(expected a multiple of 4/);
  expect(mutate(sub(24), 0x10000000), 'core_relo', sub(24), /record size 268435456/);
  // The first group's count of core_relo records: 2^32-1 records would be ~64 GiB.
  const t0 = performance.now();
  expect(mutate(sub(24) + 8, 0xffffffff), 'core_relo', sub(24) + 8, /4294967295 records of 16 bytes/);
  assert.ok(performance.now() - t0 < 1000);
  expect(mutate(sub(24) + 4, 0x7fffff00), 'core_relo', sub(24) + 4, /string offset 2147483392 is past the \.BTF string table/);
  // The first core_relo record's access string offset.
  expect(mutate(sub(24) + 12 + 8, 0xfffffff0), 'core_relo', sub(24) + 12 + 8, /string offset/);
  expect(mutate(0, 0x1234), 'header', 0, /bad magic/);
  assert.throws(
    () => parseBtfExt(ext, new Uint8Array(3)),
    (e) => e instanceof BtfExtError && /\.BTF its names refer to is unreadable/.test(e.message),
  );
});

test('.BTF.ext: 3000 random mutations of a real section are parsed or refused, never anything else', {
  timeout: 120_000,
}, (t) => {
  const { ext, btf } = realObject(t);
  const rand = rng(0x59);
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const copy = Uint8Array.from(ext);
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(rand() * copy.length);
      copy[at] = rand() < 0.5 ? Math.floor(rand() * 256) : copy[at] ^ (1 << Math.floor(rand() * 8));
    }
    if (tryParse(copy, btf, `mutation ${i}`) !== 'ok') refused++;
  }
  assert.ok(refused > 100, `${refused} of 3000 refused`);
});

test('mutated CO-RE relocations are applied or refused with CoreRelocationError, never anything else', {
  timeout: 120_000,
}, (t) => {
  const { ext, btf, sections } = realObject(t);
  const e = parseBtfExt(ext, btf);
  const local = parseBtf(btf);
  const dir = tempDir(t, 'hostile-target');
  const target = TargetBtf.fromBytes(readObject(compile(dir, 'target-btf.c', { vmlinux: false })).btf);
  const all = [...e.coreRelos].flatMap(([section, relos]) => relos.map((r) => ({ section, r })));
  const rand = rng(0x16);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const accesses = [
    '',
    ':',
    '0:',
    ':0',
    '0::1',
    'a',
    '-1',
    '0:-1',
    '1e3',
    '0:99999',
    '4294967296',
    `0${':0'.repeat(64)}`,
    '0:1:2:3:4',
    '7',
    '0:10:99',
  ];
  let refused = 0;
  let applied = 0;
  for (let i = 0; i < 4000; i++) {
    const { section, r } = pick(all);
    const relo = { ...r };
    switch (Math.floor(rand() * 4)) {
      case 0:
        relo.typeId = pick([0, 1, local.length, local.length + 1, 0xffffffff, Math.floor(rand() * local.length) + 1]);
        break;
      case 1:
        relo.accessString = pick(accesses);
        break;
      case 2:
        relo.kind = Math.floor(rand() * 16);
        break;
      default:
        relo.insnOff = pick([1, 4, -8, 1 << 20, Math.floor(rand() * 100) * 8]);
    }
    const insns = Uint8Array.from(sections.get(section).bytes);
    try {
      applyCoreRelocations(insns, [relo], local, target, { section });
      applied++;
    } catch (err) {
      if (!(err instanceof CoreRelocationError))
        throw new Error(`mutation ${i} (${JSON.stringify(relo)}): ${err?.name}: ${err?.message}`, { cause: err });
      assert.equal(err.section, section);
      refused++;
    }
  }
  assert.ok(refused > 500 && applied > 100, `${refused} refused, ${applied} applied`);
});

/** Raw BTF from type records: each `[nameOff, info, sizeOrType, ...extra words]`, and a string table. */
function rawBtf(types, strings) {
  const words = types.flat();
  const str = Buffer.from(`\0${strings.join('\0')}\0`);
  const out = new Uint8Array(24 + words.length * 4 + str.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, str.length, true);
  for (const [i, w] of words.entries()) v.setUint32(24 + i * 4, w >>> 0, true);
  out.set(str, 24 + words.length * 4);
  return out;
}
const STRUCT = (vlen) => (4 << 24) | vlen;
const INT = 1 << 24;
const TYPEDEF = 8 << 24;

test('cyclic BTF (a struct inside itself, a typedef of itself) ends in CoreRelocationError, not a hang', {
  timeout: 60_000,
}, () => {
  // Strings: 1 "s", 3 "x", 5 "int", 9 "y", 11 "t"
  const strs = ['s', 'x', 'int', 'y', 't'];
  // target: [1] struct s { struct s; /* anonymous, itself */ struct s; int x; }  [2] int
  const target = TargetBtf.fromBytes(
    rawBtf(
      [
        [1, STRUCT(3), 8, 0, 1, 0, 0, 1, 0, 3, 2, 0],
        [5, INT, 4, 32],
      ],
      strs,
    ),
  );
  // local: [1] struct s { int y; }  [2] int  [3] typedef t -> 3 (itself)
  const local = parseBtf(
    rawBtf(
      [
        [1, STRUCT(1), 4, 9, 2, 0],
        [5, INT, 4, 32],
        [11, TYPEDEF, 3],
      ],
      strs,
    ),
  );
  const insns = new Uint8Array([0xb7, 0x01, 0, 0, 0, 0, 0, 0]); // r1 = 0
  const t0 = performance.now();
  assert.throws(
    () => applyCoreRelocations(insns, [{ insnOff: 0, typeId: 1, accessString: '0:0', kind: 0 }], local, target, { section: 's' }),
    (e) => e instanceof CoreRelocationError && e.typePath === 'struct s.y' && /deeper than 64|took too long/.test(e.message),
  );
  assert.ok(performance.now() - t0 < 5000);
  assert.throws(
    () => applyCoreRelocations(insns, [{ insnOff: 0, typeId: 3, accessString: '0', kind: 9 }], local, target, { section: 's' }),
    (e) => e instanceof CoreRelocationError && e.typePath === 't',
  );
});

test('a repeated access is matched again once another relocation pruned its candidates (as libbpf)', () => {
  // Strings: 1 "s", 3 "a", 5 "b", 7 "int", 11 "s___x", 17 "s___y"
  const strs = ['s', 'a', 'b', 'int', 's___x', 's___y'];
  // target: [1] int  [2] struct s___x { int a; }  [3] struct s___y { int a; int b; }
  const target = TargetBtf.fromBytes(
    rawBtf(
      [
        [7, INT, 4, 32],
        [11, STRUCT(1), 4, 3, 1, 0],
        [17, STRUCT(2), 8, 3, 1, 0, 5, 1, 32],
      ],
      strs,
    ),
  );
  // local: [1] struct s { int a; int b; }  [2] int
  const local = parseBtf(
    rawBtf(
      [
        [1, STRUCT(2), 8, 3, 2, 0, 5, 2, 32],
        [7, INT, 4, 32],
      ],
      strs,
    ),
  );
  const ldx = (off) => [0x61, 0x21, off, 0, 0, 0, 0, 0]; // r1 = *(u32 *)(r2 + off)
  const insns = new Uint8Array([...ldx(0), ...ldx(4), ...ldx(0), ...ldx(0)]);
  const relo = (insnOff, accessString) => ({ insnOff, typeId: 1, accessString, kind: 0 });
  // s.a fits both flavors (they agree), s.b only s___y: from then on s.a is matched against s___y alone.
  const results = applyCoreRelocations(insns, [relo(0, '0:0'), relo(8, '0:1'), relo(16, '0:0'), relo(24, '0:0')], local, target, {
    section: 's',
  });
  assert.deepEqual(
    results.map((r) => [r.target?.id, r.target?.typePath, r.targetValue]),
    [
      [2, 'struct s___x.a', 0n],
      [3, 'struct s___y.b', 4n],
      [3, 'struct s___y.a', 0n],
      [3, 'struct s___y.a', 0n],
    ],
  );
  assert.deepEqual([...insns], [...ldx(0), ...ldx(4), ...ldx(0), ...ldx(0)]);
});
