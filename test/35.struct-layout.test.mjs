// defineStruct's layout agrees with the C compiler: sizeof, _Alignof and every offsetof, for 30 struct definitions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { array, bpfSpinLock, cstring, defineStruct } from 'bpfmap';

const C_SCALAR = {
  u8: 'unsigned char',
  u16: 'unsigned short',
  u32: 'unsigned int',
  u64: 'unsigned long long',
  i8: 'signed char',
  i16: 'short',
  i32: 'int',
  i64: 'long long',
  be16: 'unsigned short',
  be32: 'unsigned int',
  be64: 'unsigned long long',
  f32: 'float',
  f64: 'double',
  bool: '_Bool',
};

const inner = defineStruct('inner', { a: 'u8', b: 'u32' });
const pair = defineStruct('pair', { x: 'u16', y: 'u8' });
const deep = defineStruct('deep', { p: pair, q: array(inner, 2), z: 'u8' });
const packedInner = defineStruct('pinner', { a: 'u8', b: 'u64' }, { packed: true });

const structs = [
  defineStruct('s01', { a: 'u8' }),
  defineStruct('s02', { a: 'u8', b: 'u16' }),
  defineStruct('s03', { a: 'u8', b: 'u32' }),
  defineStruct('s04', { a: 'u8', b: 'u64' }),
  defineStruct('s05', { a: 'u64', b: 'u8' }),
  defineStruct('s06', { a: 'u32', b: 'u64', c: 'u16' }),
  defineStruct('s07', { a: 'i8', b: 'i16', c: 'i32', d: 'i64' }),
  defineStruct('s08', { a: 'bool', b: 'f64', c: 'bool' }),
  defineStruct('s09', { a: 'f32', b: 'u8' }),
  defineStruct('s10', { src: 'be32', dst: 'be32', sport: 'be16', dport: 'be16', proto: 'u8' }),
  defineStruct('s11', { a: array('u8', 3), b: 'u32' }),
  defineStruct('s12', { a: 'u8', b: array('u64', 2) }),
  defineStruct('s13', { name: cstring(16), pid: 'u32' }),
  defineStruct('s14', { a: 'u8', name: cstring(5), b: 'u16' }),
  defineStruct('s15', { a: 'u8', n: inner }),
  defineStruct('s16', { n: inner, a: 'u8' }),
  defineStruct('s17', { a: array(inner, 3), b: 'u8' }),
  defineStruct('s18', { d: deep, e: 'u16' }),
  defineStruct('s19', { lock: bpfSpinLock, v: 'u64' }),
  defineStruct('s20', { a: 'u8', lock: bpfSpinLock, b: 'u8' }),
  defineStruct('s21', { a: 'u8', b: 'u64' }, { packed: true }),
  defineStruct('s22', { a: 'u8', b: 'u16', c: 'u32', d: 'u8' }, { packed: true }),
  defineStruct('s23', { a: 'u8', p: packedInner, b: 'u32' }),
  defineStruct('s24', { a: 'u8', p: inner }, { packed: true }),
  defineStruct('s25', { a: array(array('u16', 3), 2), b: 'u8' }),
  defineStruct('s26', { a: 'be64', b: 'be16' }),
  defineStruct('s27', { a: 'u16', b: array('u8', 5) }),
  defineStruct('s28', { x: 'f64', y: 'f32', z: 'f32', w: 'u8' }),
  defineStruct('s29', { a: 'bool', b: 'bool', c: 'u16', d: 'bool' }),
  defineStruct('s30', { h: pair, t: array(pair, 4), u: 'u64' }),
];

/** C declarations for `t` and everything it contains, in dependency order. */
function cType(t, decls, seen) {
  if (t.kind === 'scalar') return { type: C_SCALAR[t.name], suffix: '' };
  if (t.kind === 'spinlock') return { type: 'struct bpf_spin_lock', suffix: '' };
  if (t.kind === 'cstring') return { type: 'char', suffix: `[${t.length}]` };
  if (t.kind === 'array') {
    const e = cType(t.element, decls, seen);
    return { type: e.type, suffix: `[${t.length}]${e.suffix}` };
  }
  const name = t.name; // "struct x"
  if (!seen.has(name)) {
    seen.add(name);
    const members = t.fields.map((f) => {
      const m = cType(f.type, decls, seen);
      return `  ${m.type} ${f.name}${m.suffix};`;
    });
    decls.push(`${name} {\n${members.join('\n')}\n}${t.packed ? ' __attribute__((packed))' : ''};`);
  }
  return { type: name, suffix: '' };
}

test('30 struct definitions: sizeof, _Alignof and every offsetof match cc', () => {
  const decls = [];
  const seen = new Set();
  for (const s of structs) cType(s, decls, seen);
  const prints = [];
  const expected = [];
  for (const s of structs) {
    prints.push(`printf("%zu %zu\\n", sizeof(${s.name}), _Alignof(${s.name}));`);
    expected.push(`${s.name}: ${s.size} ${s.align}`);
    for (const f of s.fields) {
      prints.push(`printf("%zu\\n", offsetof(${s.name}, ${f.name}));`);
      expected.push(`${s.name}.${f.name}: ${f.offset}`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-structs-'));
  try {
    const src = `#include <stdio.h>\n#include <stddef.h>\nstruct bpf_spin_lock { unsigned int val; };\n${decls.join('\n')}\nint main(void){\n${prints.join('\n')}\nreturn 0;}\n`;
    writeFileSync(join(dir, 's.c'), src);
    execFileSync('cc', ['-std=c11', '-o', join(dir, 's'), join(dir, 's.c')]);
    const out = execFileSync(join(dir, 's'), { encoding: 'utf8' }).trim().split('\n');
    const got = expected.map((e, i) => `${e.split(':')[0]}: ${out[i]}`);
    assert.deepEqual(got, expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(structs.length >= 25);
});

test('a spin lock is never part of a record; padding and lock bytes are zeroed by encode', () => {
  const s = defineStruct('locked', { a: 'u8', lock: bpfSpinLock, v: 'u64' });
  assert.deepEqual(Object.keys(s.make()), ['a', 'v']);
  const out = new Uint8Array(s.size).fill(0xff);
  s.encode({ a: 1, v: 2n }, out);
  assert.equal(s.size, 16);
  assert.deepEqual([...out], [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(s.decode(out), { a: 1, v: 2n });
  assert.throws(() => s.encode({ a: 1, v: 2n, lock: 0 }), /locked\.lock: unknown field/);
});
