// An object's BTF on a kernel that lacks BTF kinds: each kind this kernel has is assumed missing in
// turn (as on 4.18–5.17 kernels), the loader rewrites it (type ids kept), the kernel takes the
// rewritten BTF, the program verifies and runs, and bpftool shows the replacement kinds.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Btf, loadObject, programInfo } from 'bpfmap';
import { assumeBtfFeaturesMissing, kernelBtfFeatures, sanitizeBtf } from '../dist/btf/sanitize.js';
import { buildObject } from './fixtures/obj/build.mjs';
import { execFileSync } from 'node:child_process';
import { bpftool, readU64, u32 } from './helpers/kernel.mjs';

after(() => assumeBtfFeaturesMissing([]));

const FEATURES = ['func', 'funcGlobal', 'datasec', 'float', 'declTag', 'typeTag', 'enum64'];

/** bpftool's text dump of BTF object `id` (its JSON is invalid for FLOAT members in 7.1). */
const dumpBtf = (id) => execFileSync('bpftool', ['btf', 'dump', 'id', String(id)], { encoding: 'utf8' });

/** Loads the fixture with `missing` assumed absent, runs it, returns its results and its BTF dump. */
function loadWith(missing) {
  assumeBtfFeaturesMissing(missing);
  const obj = loadObject(buildObject('sanitize'));
  try {
    assert.equal(obj.programs.run.testRun({}).retval, 0);
    const results = [0, 1, 2].map((i) => readU64(obj.maps.out.lookup(u32(i))));
    const btfId = obj.maps.out.info().btfId;
    assert.ok(btfId > 0, 'the map carries the BTF');
    // Without DATASEC the kernel takes no BTF for a keyless map (array_map_check_btf): as libbpf, the
    // global data maps are then created without BTF.
    assert.equal(obj.maps['.data'].info().btfId, missing.includes('datasec') ? 0 : btfId);
    return { results, dump: dumpBtf(btfId), progBtf: programInfo({ id: obj.programs.run.id }).btfId, notes: obj.notes ?? [] };
  } finally {
    obj.close();
    assumeBtfFeaturesMissing([]);
  }
}

// 32 + cfg_add, the bits of 1.5f, tagged_val + holder_g.v
const EXPECTED = [42n, 0x3fc00000n, 3n];

test('this kernel (6.x) has every BTF kind the sanitiser knows, as the probes find', () => {
  assert.deepEqual(kernelBtfFeatures(), Object.fromEntries(FEATURES.map((f) => [f, true])));
  const plain = loadWith([]);
  assert.deepEqual(plain.results, EXPECTED);
  assert.match(plain.dump, /FLOAT 'float' size=4/);
  assert.match(plain.dump, /DECL_TAG 'bpfmap_decl'/);
  assert.match(plain.dump, /TYPE_TAG 'bpfmap_tag'/);
  assert.match(plain.dump, /DATASEC '\.data'/);
  assert.match(plain.dump, /FUNC 'add_cfg' type_id=\d+ linkage=global/);
  assert.ok(plain.progBtf > 0, 'func_info was sent');
});

test('each missing kind is rewritten; the kernel takes the BTF and the program runs the same', () => {
  const cases = {
    float: (d) => {
      assert.doesNotMatch(d, /FLOAT/);
      assert.match(d, /STRUCT '\(anon\)' size=4 vlen=0/);
    },
    declTag: (d) => {
      assert.doesNotMatch(d, /DECL_TAG/);
      assert.match(d, /INT '\(anon\)' size=1 bits_offset=0 nr_bits=8 encoding=\(none\)/);
    },
    typeTag: (d) => assert.doesNotMatch(d, /TYPE_TAG/),
    funcGlobal: (d) => {
      assert.match(d, /FUNC 'add_cfg' type_id=\d+ linkage=static/);
      assert.doesNotMatch(d, /FUNC .*linkage=global/);
    },
    datasec: (d) => {
      assert.doesNotMatch(d, /DATASEC|\bVAR\b/);
      assert.match(d, /STRUCT '_data' size=\d+ vlen=\d+\n(\t.*\n)*\t'ratio' type_id=\d+ bits_offset=0/);
      assert.match(d, /INT 'ratio' size=1/);
    },
    func: (d) => {
      assert.doesNotMatch(d, /FUNC/);
      assert.match(d, /TYPEDEF 'add_cfg'/);
      assert.match(d, /ENUM '\(anon\)' .*size=4 vlen=1\n\t'x' val=0/);
    },
  };
  for (const [f, check] of Object.entries(cases)) {
    const r = loadWith([f]);
    assert.deepEqual(r.results, EXPECTED, f);
    check(r.dump);
    if (f === 'func') assert.equal(r.progBtf, 0, 'no BTF functions: no func_info sent');
    else assert.ok(r.progBtf > 0, `${f}: func_info still sent`);
  }
  const none = loadWith(FEATURES);
  assert.deepEqual(none.results, EXPECTED, 'everything missing at once');
  assert.doesNotMatch(none.dump, /FLOAT|DECL_TAG|TYPE_TAG|DATASEC|FUNC/);
});

test('ENUM64 becomes a UNION of its size and a signed ENUM unsigned (clang 14 emits neither)', () => {
  // [1] ENUM64 'e64' size 8 {big = 1 << 32}; [2] ENUM 'es' signed size 4 {neg = -1}
  const strs = '\0e64\0big\0es\0neg\0';
  const words = [1, (19 << 24) | 1, 8, 5, 0, 1, 9, (1 << 31) | (6 << 24) | 1, 4, 12, 0xffffffff];
  const blob = new Uint8Array(24 + words.length * 4 + strs.length);
  const v = new DataView(blob.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, strs.length, true);
  for (const [i, w] of words.entries()) v.setUint32(24 + 4 * i, w >>> 0, true);
  blob.set(Buffer.from(strs, 'latin1'), 24 + words.length * 4);
  const all = Object.fromEntries(FEATURES.map((f) => [f, true]));
  assert.equal(sanitizeBtf(blob, all), blob, 'nothing missing: the same blob');
  const btfIds = () => bpftool('btf', 'list').map((b) => b.id);
  const loaded = (b) => {
    const known = new Set(btfIds());
    const btf = Btf.load(b);
    const id = btfIds().filter((i) => !known.has(i));
    assert.equal(id.length, 1);
    return { btf, id: id[0] };
  };
  const before = loaded(blob);
  const rewritten = loaded(sanitizeBtf(blob, { ...all, enum64: false }));
  try {
    assert.match(dumpBtf(before.id), /ENUM64 'e64' encoding=UNSIGNED size=8 vlen=1/);
    assert.match(dumpBtf(before.id), /ENUM 'es' encoding=SIGNED/);
    const d = dumpBtf(rewritten.id);
    assert.match(d, /\[1\] UNION 'e64' size=8 vlen=0/);
    assert.match(d, /\[2\] ENUM 'es' encoding=UNSIGNED size=4 vlen=1/);
  } finally {
    before.btf.close();
    rewritten.btf.close();
  }
});
