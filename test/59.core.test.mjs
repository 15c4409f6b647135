// CO-RE: .BTF.ext reading, the kernel's target BTF, and relocations of every kind, compared
// instruction by instruction with what libbpf itself makes of the same clang-compiled objects
// (a small C loader linked with -lbpf, see fixtures/core/harness.mjs). Internals are imported from
// dist/ until the object loader (src/object) uses them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BtfKind } from 'bpfmap';
import { applyCoreRelocations, CoreRelocationError, POISON_HELPER } from '../dist/btf/core.js';
import { CoreReloKind, parseBtfExt } from '../dist/btf/ext.js';
import { parseBtf } from '../dist/btf/parse.js';
import { TargetBtf } from '../dist/btf/target.js';
import { compile, libbpf, readObject, tempDir } from './fixtures/core/harness.mjs';

const hex = (b) => Buffer.from(b).toString('hex');

/** The fake kernel: target-btf.c's .BTF as a raw BTF file (libbpf's btf_custom_path) and as a TargetBtf. */
function fakeKernel(dir, file = 'target-btf.c', source = undefined) {
  const o = readObject(compile(dir, file, { vmlinux: false, source }));
  const path = join(dir, `${file}.btf`);
  writeFileSync(path, o.btf);
  return { path, target: TargetBtf.fromBytes(o.btf, path) };
}

/** Our relocation of every section of `objPath` (optionally with its .BTF.ext replaced). */
function relocate(objPath, target, ext) {
  const o = readObject(objPath);
  const e = parseBtfExt(ext ?? o.ext, o.btf);
  const local = parseBtf(o.btf);
  const out = new Map();
  for (const [section, relos] of e.coreRelos) {
    const insns = o.sections.get(section).bytes;
    const results = applyCoreRelocations(insns, relos, local, target, { section });
    out.set(section, { insns, results, relos });
  }
  return out;
}

/** Asserts that each section's instructions are what libbpf made of them (map fd/value loads aside: libbpf fills those in). */
function assertSameAsLibbpf(ours, theirs) {
  assert.ok(ours.size > 0);
  for (const [section, { insns }] of ours) {
    const lib = theirs.get(section);
    assert.ok(lib, `libbpf relocated section ${section}`);
    assert.equal(lib.insns.length, insns.length, section);
    for (let i = 0; i < insns.length; i += 8) {
      const mapLoad = (j) => j >= 0 && lib.insns[j] === 0x18 && lib.insns[j + 1] >> 4 !== 0;
      if (mapLoad(i) || mapLoad(i - 8)) continue;
      assert.equal(hex(insns.subarray(i, i + 8)), hex(lib.insns.subarray(i, i + 8)), `${section} instruction ${i / 8}`);
    }
  }
}

const byPath = (results, path, kind) => results.filter((r) => r.typePath === path && (kind === undefined || r.kind === kind));
const insnAt = (insns, off) => ({
  code: insns[off],
  off: new DataView(insns.buffer, insns.byteOffset).getInt16(off + 2, true),
  imm: new DataView(insns.buffer, insns.byteOffset).getInt32(off + 4, true),
});

test('parseBtfExt reads func_info, line_info and CO-RE records of a clang object', (t) => {
  const dir = tempDir(t, 'ext');
  const o = readObject(compile(dir, 'fields.bpf.c', { vmlinux: false }));
  const e = parseBtfExt(o.ext, o.btf);
  const types = parseBtf(o.btf);
  assert.equal(e.funcInfoRecSize, 8);
  assert.equal(e.lineInfoRecSize, 16);
  const programs = {
    'raw_tp/sys_enter': 'fields',
    'raw_tp/sys_exit': 'bitfields',
    'raw_tp/task_rename': 'types',
    'raw_tp/sched_switch': 'enums',
  };
  for (const [section, fn] of Object.entries(programs)) {
    const fi = e.funcInfo.get(section);
    assert.deepEqual(
      fi.map((f) => f.insnOff),
      [0],
      section,
    );
    const ty = types[fi[0].typeId - 1];
    assert.equal(ty.kind, BtfKind.Func);
    assert.equal(ty.name, fn);
    const li = e.lineInfo.get(section);
    assert.ok(li.length > 3 && li.every((l) => l.insnOff % 8 === 0 && l.insnOff < o.sections.get(section).bytes.length), section);
    assert.ok(li.every((l, i) => i === 0 || l.insnOff >= li[i - 1].insnOff));
    const strOff = 24 + new DataView(o.btf.buffer).getUint32(16, true);
    assert.match(Buffer.from(o.btf).toString('latin1', strOff + li[0].fileNameOff), /^[^\0]*fields\.bpf\.c\0/);
  }
  const relos = e.coreRelos.get('raw_tp/task_rename');
  assert.ok(relos.some((r) => r.kind === CoreReloKind.TypeIdLocal && r.accessString === '0'));
  assert.ok(
    e.coreRelos.get('raw_tp/sys_enter').some((r) => r.kind === CoreReloKind.FieldByteOffset && r.accessString === '0:2:2:1'),
  );
});

test('func_info: subprogram records have their byte offsets in .text, as the symbol table says', (t) => {
  const dir = tempDir(t, 'subprog');
  const src = `#include <linux/types.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
__u64 out;
static __attribute__((noinline)) int first(int x) { out += x; return x * 3; }
static __attribute__((noinline)) int second(int x) { out -= x; return first(x) + 1; }
SEC("raw_tp/sys_enter") int main_prog(void *ctx) { out = 1; return first(7) + second(8); }`;
  const obj = compile(dir, 'subprog.bpf.c', { source: src, vmlinux: false });
  const o = readObject(obj);
  const types = parseBtf(o.btf);
  const fi = parseBtfExt(o.ext, o.btf).funcInfo;
  const syms = execFileSync('llvm-objdump', ['--syms', obj], { encoding: 'utf8' });
  const symOff = (section, name) =>
    Number.parseInt(new RegExp(`^([0-9a-f]+) .* ${section}\\s+[0-9a-f]+ ${name}$`, 'm').exec(syms)[1], 16);
  const got = fi.get('.text').map((f) => [types[f.typeId - 1].name, f.insnOff]);
  assert.deepEqual(
    got.sort((a, b) => a[1] - b[1]),
    [
      ['first', symOff('.text', 'first')],
      ['second', symOff('.text', 'second')],
    ].sort((a, b) => a[1] - b[1]),
  );
  assert.ok(got[1][1] > 0);
  assert.deepEqual(
    fi.get('raw_tp/sys_enter').map((f) => f.insnOff),
    [0],
  );
});

test('CO-RE against a kernel whose types moved: every instruction as libbpf relocates it', (t) => {
  const dir = tempDir(t, 'fields');
  const obj = compile(dir, 'fields.bpf.c', { vmlinux: false });
  const { path, target } = fakeKernel(dir);
  const ours = relocate(obj, target);
  const theirs = libbpf(obj, path);
  assert.ok(theirs.loaded, theirs.stderr);
  assertSameAsLibbpf(ours, theirs.programs);

  const f = ours.get('raw_tp/sys_enter').results;
  const [id] = byPath(f, 'struct thing.id', CoreReloKind.FieldByteOffset);
  assert.equal(id.localValue, 0n);
  assert.equal(id.targetValue, 160n); // the target's `id` is in an anonymous union after 24 + 136 bytes
  assert.equal(byPath(f, 'struct thing.arr[2].b', CoreReloKind.FieldByteOffset)[0].targetValue, 24n + 8n + 2n * 16n + 8n);
  assert.equal(byPath(f, 'struct thing.name', CoreReloKind.FieldByteSize)[0].targetValue, 32n);
  const gone = byPath(f, 'struct thing.gone');
  assert.deepEqual(
    gone.map((r) => [r.kind, r.poisoned, r.targetValue]),
    [
      [CoreReloKind.FieldExists, false, 0n],
      [CoreReloKind.FieldByteOffset, true, 0n],
    ],
  );
  const poisoned = insnAt(ours.get('raw_tp/sys_enter').insns, gone[1].insnOff);
  assert.deepEqual(poisoned, { code: 0x85, off: 0, imm: POISON_HELPER });
  assert.equal(byPath(f, 'struct thing.tail[5]', CoreReloKind.FieldByteOffset)[0].targetValue, 256n + 5n * 8n);

  const flavors = ours.get('raw_tp/sched_wakeup').results;
  assert.ok(
    byPath(flavors, 'struct moved___new.new_name').every((r) => !r.poisoned && r.target.typePath === 'struct moved.new_name'),
  );
  assert.ok(byPath(flavors, 'struct moved___old.old_name', CoreReloKind.FieldByteOffset).every((r) => r.poisoned));

  const types = ours.get('raw_tp/task_rename').results;
  assert.deepEqual(
    byPath(types, 'struct absent_type').map((r) => r.targetValue),
    [0n, 0n],
  );
  assert.equal(byPath(types, 'struct thing', CoreReloKind.TypeSize)[0].targetValue, 256n);
  assert.equal(byPath(types, 'counter_t', CoreReloKind.TypeSize)[0].targetValue, 8n);

  const enums = ours.get('raw_tp/sched_switch').results;
  assert.equal(byPath(enums, 'enum color::GREEN', CoreReloKind.EnumvalValue)[0].targetValue, 9n);
  assert.equal(byPath(enums, 'enum color::BLUE', CoreReloKind.EnumvalValue)[0].targetValue, 2n ** 64n - 7n);
  assert.ok(byPath(enums, 'enum color::GONE_COLOR', CoreReloKind.EnumvalValue)[0].poisoned);

  // Direct loads and stores: offsets, and access sizes changed where the field's width did.
  const direct = ours.get('raw_tp/block_rq_issue');
  const small = insnAt(direct.insns, byPath(direct.results, 'struct thing.small')[0].insnOff);
  assert.equal(small.off, 164);
  assert.equal(small.code & 0x18, 0x08, 'the 4-byte load of an unsigned field that became 2 bytes is a 2-byte load');
  const cnt = insnAt(direct.insns, byPath(direct.results, 'struct thing.cnt')[0].insnOff);
  assert.equal(cnt.code & 0x18, 0x18, 'the 4-byte store to a counter that became 8 bytes is an 8-byte store');
});

test('bitfields: byte offset, size, shifts and signedness as libbpf computes them', (t) => {
  const dir = tempDir(t, 'bits');
  const obj = compile(dir, 'fields.bpf.c', { vmlinux: false });
  const { target } = fakeKernel(dir);
  const r = relocate(obj, target).get('raw_tp/sys_exit').results;
  const get = (field, kind) => byPath(r, `struct bits.${field}`, kind).map((x) => x.targetValue);
  // target: pad:13 lo:3 neg:6 mid:9 in the first 8 bytes (unsigned long long unit), wide:35 after.
  assert.deepEqual(get('lo', CoreReloKind.FieldByteOffset), [0n]);
  assert.deepEqual(get('lo', CoreReloKind.FieldLshiftU64), [64n - (13n + 3n)]);
  assert.deepEqual(get('lo', CoreReloKind.FieldRshiftU64)[0], 61n);
  assert.deepEqual(get('neg', CoreReloKind.FieldSigned), [1n, 1n]);
  assert.deepEqual(get('neg', CoreReloKind.FieldRshiftU64)[0], 58n);
  assert.deepEqual(get('lo', CoreReloKind.FieldSigned), [0n, 0n]);
  // wide:35 does not fit the first 8 bytes after 31 bits: it starts the next unit.
  assert.deepEqual(get('wide', CoreReloKind.FieldByteOffset), [8n]);
  assert.deepEqual(get('wide', CoreReloKind.FieldByteSize), [8n]);
  assert.deepEqual(get('wide', CoreReloKind.FieldLshiftU64), [29n]);
  assert.deepEqual(get('wide', CoreReloKind.FieldRshiftU64), [29n, 29n]);
});

test('TYPE_MATCHES (clang 14 cannot emit it: two TYPE_EXISTS records rewritten) agrees with libbpf', (t) => {
  const dir = tempDir(t, 'matches');
  const obj = compile(dir, 'fields.bpf.c', { vmlinux: false });
  const { path, target } = fakeKernel(dir);
  const o = readObject(obj);
  const ext = parseBtfExt(o.ext, o.btf);
  const types = parseBtf(o.btf);
  // Rewrite the kind of the relocations on struct shape___*, in a copy of the object file.
  const file = readFileSync(obj);
  const extAt = file.indexOf(Buffer.from(o.ext));
  const extView = new DataView(file.buffer, file.byteOffset + extAt);
  const hdrLen = extView.getUint32(4, true);
  const coreStart = hdrLen + extView.getUint32(24, true);
  const rec = extView.getUint32(coreStart, true);
  let p = coreStart + 4;
  let rewritten = 0;
  while (p < coreStart + extView.getUint32(28, true)) {
    const n = extView.getUint32(p + 4, true);
    p += 8;
    for (let i = 0; i < n; i++, p += rec) {
      const ty = types[extView.getUint32(p + 4, true) - 1];
      if (ty?.name.startsWith('shape___') && extView.getUint32(p + 12, true) === CoreReloKind.TypeExists) {
        extView.setUint32(p + 12, CoreReloKind.TypeMatches, true);
        rewritten++;
      }
    }
  }
  assert.equal(rewritten, 2);
  const mutated = join(dir, 'matches.o');
  writeFileSync(mutated, file);
  assert.equal(ext.coreRelos.size > 0, true);
  const ours = relocate(mutated, target);
  const theirs = libbpf(mutated, path);
  assert.ok(theirs.loaded, theirs.stderr);
  assertSameAsLibbpf(ours, theirs.programs);
  const r = ours.get('raw_tp/task_rename').results;
  assert.deepEqual(
    byPath(r, 'struct shape___ok', CoreReloKind.TypeMatches).map((x) => x.targetValue),
    [1n],
  );
  assert.deepEqual(
    byPath(r, 'struct shape___bad', CoreReloKind.TypeMatches).map((x) => x.targetValue),
    [0n],
  );
});

test('a reachable load whose signed field changed width is poisoned, as libbpf does, and the verifier refuses it', (t) => {
  const dir = tempDir(t, 'signed');
  const obj = compile(dir, 'fields.bpf.c', { vmlinux: false, defines: ['POISON_SIGNED'] });
  const { path, target } = fakeKernel(dir);
  const ours = relocate(obj, target);
  const theirs = libbpf(obj, path);
  assert.equal(theirs.loaded, false);
  assert.match(theirs.stderr, /invalid CO-RE relocation|unknown#195896080/);
  assertSameAsLibbpf(ours, theirs.programs);
  const r = ours.get('raw_tp/block_rq_complete');
  const [sgn] = byPath(r.results, 'struct thing.sgn');
  assert.equal(sgn.poisoned, true);
  assert.equal(insnAt(r.insns, sgn.insnOff).imm, POISON_HELPER);
});

test('CoreRelocationError names section, instruction, kind, access and type path where libbpf refuses too', (t) => {
  const dir = tempDir(t, 'errors');
  // clang 14 writes a 64-bit enumerator's value truncated into BTF but whole into the instruction.
  const src = `#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "types.h"
char LICENSE[] SEC("license") = "GPL";
__u64 out;
SEC("raw_tp/sys_enter") int e(void *ctx) { out = bpf_core_enum_value(enum big64, HUGE64); return 0; }`;
  const obj = compile(dir, 'enum64.bpf.c', { source: src, vmlinux: false });
  const { path, target } = fakeKernel(dir);
  const theirs = libbpf(obj, path);
  assert.equal(theirs.loaded, false);
  assert.match(theirs.stderr, /unexpected insn #\d+ \(LDIMM64\) value/);
  assert.throws(
    () => relocate(obj, target),
    (e) => {
      assert.ok(e instanceof CoreRelocationError);
      assert.equal(e.name, 'CoreRelocationError');
      assert.equal(e.section, 'raw_tp/sys_enter');
      assert.equal(e.kind, CoreReloKind.EnumvalValue);
      assert.equal(e.accessString, '1');
      assert.equal(e.typePath, 'enum big64::HUGE64');
      assert.equal(e.insnOff % 8, 0);
      assert.match(
        e.message,
        /ENUMVAL_VALUE of enum big64::HUGE64 \(access "1"\) at raw_tp\/sys_enter\+\d+ \(instruction \d+\): the 64-bit immediate is \d+, but the object's BTF says \d+/,
      );
      return true;
    },
  );
});

test('two kernel flavors of one type that disagree on a field offset: an error, as in libbpf', (t) => {
  const dir = tempDir(t, 'ambiguous');
  const kernel = `struct amb___a { long pad; int x; }; struct amb___b { int x; };
struct amb___a a; struct amb___b b;`;
  const { path, target } = fakeKernel(dir, 'amb-kernel.c', kernel);
  const src = `#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "GPL";
struct amb { int x; } __attribute__((preserve_access_index));
__u64 out;
SEC("raw_tp/sys_enter") int e(void *ctx) { out = bpf_core_field_offset(((struct amb *)0)->x); return 0; }`;
  const obj = compile(dir, 'amb.bpf.c', { source: src, vmlinux: false });
  const theirs = libbpf(obj, path);
  assert.equal(theirs.loaded, false);
  assert.match(theirs.stderr, /ambiguity/);
  assert.throws(
    () => relocate(obj, target),
    (e) => e instanceof CoreRelocationError && e.typePath === 'struct amb.x' && /disagree on the field's offset/.test(e.message),
  );
});

test('CO-RE against the running kernel (vmlinux.h from its BTF): the same instructions as libbpf', (t) => {
  const dir = tempDir(t, 'kernel');
  const obj = compile(dir, 'kernel.bpf.c');
  const kernel = TargetBtf.kernel();
  const ours = relocate(obj, kernel);
  const theirs = libbpf(obj);
  assert.ok(theirs.loaded, theirs.stderr);
  assertSameAsLibbpf(ours, theirs.programs);
  const r = ours.get('raw_tp/sys_enter').results;
  assert.ok(byPath(r, 'struct task_struct___old.state', CoreReloKind.FieldByteOffset)[0].poisoned);
  assert.equal(byPath(r, 'struct task_struct___old.state', CoreReloKind.FieldExists)[0].targetValue, 0n);
  const [typeId] = byPath(r, 'struct task_struct', CoreReloKind.TypeIdTarget);
  assert.equal(typeId.targetValue, BigInt(kernel.vmlinux.find('task_struct', BtfKind.Struct).id));
  const dump = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.match(dump, new RegExp(`^\\[${typeId.targetValue}\\] STRUCT 'task_struct' `, 'm'));
  assert.equal(byPath(r, 'enum bpf_map_type::BPF_MAP_TYPE_RINGBUF', CoreReloKind.EnumvalValue)[0].targetValue, 27n);
});
