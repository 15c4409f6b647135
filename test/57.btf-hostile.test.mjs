// BTF the kernel could hand us, hostile or not (issue 13, item 13): cycles through typedefs, modifiers,
// arrays and structs, nesting without end. Each must yield a codec or a BtfCodecError at once. Each case
// runs in a child process with a timeout, so that a regression fails instead of hanging the suite.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

/** A BTF blob: a 24-byte header, the types (arrays of u32 words), then the strings "\0a\0". */
function blob(types) {
  const words = types.flat();
  const typeLen = words.length * 4;
  const strs = [0, 0x61, 0, 0];
  const b = new DataView(new ArrayBuffer(24 + typeLen + strs.length));
  b.setUint16(0, 0xeb9f, true);
  b.setUint8(2, 1);
  b.setUint32(4, 24, true);
  b.setUint32(8, 0, true);
  b.setUint32(12, typeLen, true);
  b.setUint32(16, typeLen, true);
  b.setUint32(20, strs.length, true);
  for (const [i, w] of words.entries()) b.setUint32(24 + i * 4, w, true);
  for (const [i, c] of strs.entries()) b.setUint8(24 + typeLen + i, c);
  return [...new Uint8Array(b.buffer)];
}
const info = (kind, vlen = 0) => ((kind << 24) | vlen) >>> 0;
const INT = (size) => [1, info(1), size, size * 8]; // name "a", bits
const TYPEDEF = (to) => [1, info(8), to];
const CONST = (to) => [0, info(10), to];
const PTR = (to) => [0, info(2), to];
const ARRAY = (elem, n) => [0, info(3), 0, elem, 1, n];
const STRUCT = (size, ...members) => [1, info(4, members.length), size, ...members.flat()];
const MEMBER = (type, name = 1, bitOffset = 0) => [name, type, bitOffset];

/** Runs `new BtfSpec(parseBtf(blob)).codec(id)` (and cName, sizeOf) in a child; what it threw, by name. */
function tryCodec(bytes, id) {
  const script = `
    import { BtfSpec, parseBtf } from 'bpfmap';
    const out = {};
    for (const what of ['codec', 'cName', 'sizeOf']) {
      try {
        const spec = new BtfSpec(parseBtf(Uint8Array.from(${JSON.stringify(bytes)})));
        const r = spec[what](${id});
        out[what] = what === 'codec' ? 'codec of ' + r.size + ' bytes' : String(r);
      } catch (e) { out[what] = e.name + ': ' + e.message; }
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
    cwd: new URL('..', import.meta.url),
  });
  assert.equal(r.error?.code, undefined, `the child ended in time (${r.error?.code})`);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const CASES = [
  ['a typedef of itself (the 40-byte blob)', [TYPEDEF(1)], 1],
  ['const → typedef → const', [CONST(2), TYPEDEF(1)], 1],
  ['a struct containing itself', [STRUCT(4, MEMBER(1))], 1],
  ['a struct containing itself through an anonymous member', [STRUCT(4, MEMBER(1, 0))], 1],
  ['a struct containing an array of itself', [STRUCT(4, MEMBER(2)), ARRAY(1, 2)], 1],
  ['an array of itself', [ARRAY(1, 2)], 1],
  ['a pointer to itself (fine: a pointer is 8 bytes)', [PTR(1)], 1],
];

for (const [what, types, id] of CASES)
  test(`BTF with ${what}: a codec or a BtfCodecError, at once`, () => {
    const bytes = blob(types);
    const r = tryCodec(bytes, id);
    console.log(`# ${JSON.stringify(r)}`);
    if (what.startsWith('a pointer')) assert.equal(r.codec, 'codec of 8 bytes');
    else assert.match(r.codec, /^BtfCodecError: .*(cycle|contains itself|refers to itself)/);
    assert.doesNotMatch(r.codec, /RangeError|Maximum call stack/);
    assert.match(r.sizeOf, /^(\d+|BtfCodecError: .*)$/);
    assert.ok(r.cName.length < 400, `cName stays short: ${r.cName.length} characters`);
  });

test('BTF nesting far deeper than C code does (2,000 structs, each inside the next) is refused, not a stack overflow', () => {
  const types = [INT(4)];
  for (let i = 0; i < 2000; i++) types.push(STRUCT(4, MEMBER(types.length)));
  const r = tryCodec(blob(types), types.length);
  console.log(`# ${JSON.stringify(r).slice(0, 300)}`);
  assert.match(r.codec, /^(codec of 4 bytes|BtfCodecError: .*nest)/);
  assert.doesNotMatch(JSON.stringify(r), /Maximum call stack/);
});

test('an array whose size would overflow is a BtfCodecError', () => {
  const r = tryCodec(blob([INT(4), ARRAY(1, 0xffffffff), ARRAY(2, 0xffffffff)]), 3);
  assert.match(r.codec, /^BtfCodecError: .*(too large|bytes)/);
});

test('a member named __proto__ (item 10) is an own field of decoded records, and round-trips', () => {
  // struct a { int a; int __proto__; } — strings "\0a\0__proto__\0"
  const types = [INT(4), STRUCT(8, MEMBER(1, 1, 0), MEMBER(1, 3, 32))];
  const b = blob(types);
  const strs = [0, 0x61, 0, ...Buffer.from('__proto__'), 0];
  const bytes = Uint8Array.from([...b.slice(0, b.length - 4), ...strs]);
  new DataView(bytes.buffer).setUint32(20, strs.length, true);
  const script = `
    import { BtfSpec, parseBtf, defineStruct } from 'bpfmap';
    const c = new BtfSpec(parseBtf(Uint8Array.from(${JSON.stringify([...bytes])}))).codec(2);
    const v = c.decode(Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0]));
    const back = [...c.encode(v)];
    const z = c.zero();
    const s = defineStruct('p', JSON.parse('{"a":"u32","__proto__":"u32"}'));
    const sv = s.decode(Uint8Array.from([3, 0, 0, 0, 4, 0, 0, 0]));
    let literal;
    try { c.encode({ a: 1, __proto__: { x: 1 } }); literal = 'encoded'; } catch (e) { literal = e.message; }
    console.log(JSON.stringify({ own: Object.hasOwn(v, '__proto__'), value: v.__proto__, keys: Object.keys(v), back,
      zeroOwn: Object.hasOwn(z, '__proto__'), structOwn: Object.hasOwn(sv, '__proto__'), structValue: sv.__proto__,
      structBack: [...s.encode(sv)], literal }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 10_000,
    cwd: new URL('..', import.meta.url),
  });
  assert.equal(r.status, 0, r.stderr);
  const f = JSON.parse(r.stdout);
  assert.deepEqual(f.keys, ['a', '__proto__']);
  assert.equal(f.own, true, 'decode: __proto__ is an own field');
  assert.equal(f.value, 2);
  assert.deepEqual(f.back, [1, 0, 0, 0, 2, 0, 0, 0], 'encode(decode(x)) is x');
  assert.equal(f.zeroOwn, true, 'zero() has the field too');
  assert.equal(f.structOwn, true, 'defineStruct records too');
  assert.equal(f.structValue, 4);
  assert.deepEqual(f.structBack, [3, 0, 0, 0, 4, 0, 0, 0]);
  assert.match(f.literal, /__proto__: missing field/, 'a prototype is not a field value');
});

test('an enum with two enumerators of one name: encode(decode(bytes)) gives the same bytes', async () => {
  // C forbids it, hostile BTF does not: `a = 0, a = 3`. A name that stands for two values must not
  // be what decode returns, or encode writes the other value (the hostile fuzzer found 0 → 3).
  const { BtfSpec, parseBtf } = await import('bpfmap');
  const ENUM = (size, ...values) => [1, info(6, values.length), size, ...values.flat()];
  const spec = new BtfSpec(parseBtf(Uint8Array.from(blob([ENUM(4, [1, 0], [1, 3], [0, 5])]))));
  const c = spec.codec(1);
  for (const n of [0, 3, 5, 7]) {
    const bytes = new Uint8Array(new Uint32Array([n]).buffer);
    const v = c.decode(bytes);
    assert.deepEqual([...c.encode(v)], [...bytes], `value ${n} decoded as ${JSON.stringify(v)}`);
  }
});

test('a typedef named after an Object.prototype member (constructor, __proto__, toString) is an ordinary typedef', () => {
  // struct a { t a; } with typedef int t, the typedef's name replaced: the fuzzer found that a typedef
  // named `constructor` made the struct's member codec Object's constructor ("m.codec.read is not a function").
  for (const name of ['constructor', '__proto__', 'toString']) {
    const types = [INT(4), [3, info(8), 1], STRUCT(4, MEMBER(2, 1, 0))];
    const b = blob(types);
    const strs = [0, 0x61, 0, ...Buffer.from(name), 0];
    const bytes = Uint8Array.from([...b.slice(0, b.length - 4), ...strs]);
    new DataView(bytes.buffer).setUint32(20, strs.length, true);
    const script = `
      import { BtfSpec, parseBtf } from 'bpfmap';
      const c = new BtfSpec(parseBtf(Uint8Array.from(${JSON.stringify([...bytes])}))).codec(3);
      console.log(JSON.stringify(c.decode(Uint8Array.from([7, 0, 0, 0]))));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
      cwd: new URL('..', import.meta.url),
    });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout), { a: 7 }, name);
  }
});
