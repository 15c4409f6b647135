// The bpf_attr/bpf_map_info offsets and the constants we use agree with the C compiler's view of <linux/bpf.h>.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as bpfmap from 'bpfmap';
import { LAYOUTS } from '../dist/sys/layout.js';
import { Cmd } from '../dist/sys/uapi.js';

function compileAndRun(body) {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmap-layout-'));
  try {
    writeFileSync(
      join(dir, 'p.c'),
      `#include <stdio.h>\n#include <stddef.h>\n#include <linux/bpf.h>\n#include <linux/perf_event.h>\nint main(void){\n${body}\nreturn 0;}\n`,
    );
    execFileSync('cc', ['-o', join(dir, 'p'), join(dir, 'p.c')]);
    return execFileSync(join(dir, 'p'), { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('every bpf_attr and bpf_map_info field offset and size matches offsetof/sizeof', () => {
  const rows = [];
  for (const [layout, spec] of Object.entries(LAYOUTS)) {
    for (const [field, [member, offset, size]] of Object.entries(spec.fields)) {
      rows.push({
        layout,
        field,
        offset,
        size,
        c: `printf("%zu %zu\\n", offsetof(${spec.cType}, ${member}), sizeof(((${spec.cType} *)0)->${member}));`,
      });
    }
  }
  const out = compileAndRun(rows.map((r) => r.c).join('\n'))
    .trim()
    .split('\n');
  assert.equal(out.length, rows.length);
  rows.forEach((r, i) => {
    const [offset, size] = out[i].split(' ').map(Number);
    assert.deepEqual(
      { at: `${r.layout}.${r.field}`, offset: r.offset, size: r.size },
      { at: `${r.layout}.${r.field}`, offset, size },
    );
  });
});

test('commands, map types and flags have the values <linux/bpf.h> gives them', () => {
  const names = [
    ...Object.keys(Cmd),
    ...Object.keys(bpfmap).filter(
      (k) =>
        /^BPF_(MAP_TYPE_|F_|ANY$|NOEXIST$|EXIST$)/.test(k) && !['BPF_MAP_TYPE_CGRP_STORAGE', 'BPF_MAP_TYPE_ARENA'].includes(k),
    ),
  ];
  const out = compileAndRun(names.map((n) => `printf("%llu\\n", (unsigned long long)${n});`).join('\n'))
    .trim()
    .split('\n')
    .map(Number);
  names.forEach((n, i) => {
    const ours = n in Cmd ? Cmd[n] : bpfmap[n];
    assert.equal(ours, out[i], n);
  });
  assert.equal(bpfmap.MapType.Hash, 1);
  assert.equal(bpfmap.MapType.BloomFilter, 30);
  assert.equal(bpfmap.MapType.UserRingbuf, 31);
  assert.equal(bpfmap.MapType.CgrpStorage, 32);
  assert.equal(bpfmap.MapType.Arena, 33);
  assert.equal(bpfmap.BPF_MAP_TYPE_LRU_PERCPU_HASH, bpfmap.MapType.LruPercpuHash);
  assert.deepEqual([bpfmap.BPF_ANY, bpfmap.BPF_NOEXIST, bpfmap.BPF_EXIST, bpfmap.BPF_F_LOCK], [0, 1, 2, 4]);
});

test('every MapType value is the one the running kernel gives in its own BTF', () => {
  // The installed header is older than the kernel; the kernel's BTF (/sys/kernel/btf/vmlinux) has its real enum.
  const vmlinux = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const body = /enum bpf_map_type \{([^}]*)\}/.exec(vmlinux)?.[1];
  assert.ok(body, 'enum bpf_map_type in vmlinux BTF');
  const kernel = new Map([...body.matchAll(/(BPF_MAP_TYPE_\w+) = (\d+)/g)].map((m) => [m[1], Number(m[2])]));
  const ours = Object.keys(bpfmap).filter((k) => k.startsWith('BPF_MAP_TYPE_'));
  assert.ok(ours.length >= 34);
  for (const name of ours) {
    if (name === 'BPF_MAP_TYPE_CGROUP_STORAGE' && !kernel.has(name)) continue; // renamed *_DEPRECATED in newer kernels, same value
    assert.equal(bpfmap[name], kernel.get(name), name);
  }
  assert.equal(kernel.get('BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED') ?? 19, bpfmap.BPF_MAP_TYPE_CGROUP_STORAGE);
});

test('the call block layout is the same in native/bpfmap.c and src/sys/bpf.ts', async () => {
  const root = new URL('..', import.meta.url);
  const c = readFileSync(new URL('native/bpfmap.c', root), 'utf8');
  const ts = readFileSync(new URL('src/sys/bpf.ts', root), 'utf8');
  const sys = await import('../dist/sys/bpf.js');
  const define = (name) => {
    const m = new RegExp(`#define ${name} (0x[0-9a-f]+|\\d+)u?\\b`).exec(c);
    assert.ok(m, `native/bpfmap.c defines ${name}`);
    return Number(m[1]);
  };
  assert.equal(sys.BLOCK_HEADER, define('CALL_BLOCK_HEADER'));
  assert.equal(sys.BLOCK_RESULT, define('CALL_BLOCK_RESULT'));
  assert.equal(sys.NO_BUFFER, define('NO_BUFFER'));
  assert.equal(sys.BLOCK_VALUE + sys.BLOCK_VALUE_CAP, define('CALL_BLOCK_SIZE'), 'the value area ends where the block does');
  assert.ok(
    sys.BLOCK_RESULT + 4 <= sys.BLOCK_HEADER && sys.BLOCK_RESULT >= 8 * 4,
    'the result word is after the 8 argument words',
  );
  // Which header word holds which argument: ElemBlock's reads of h[i] in C, elemInBlock's writes of header[i] in TS.
  const cWord = {
    cmd: /sys_bpf\(\(int\)h\[(\d)\]/,
    fd: /\.map_fd = h\[(\d)\]/,
    keyOffset: /block_ptr\(b, h\[(\d)\], h\[\d\], &key\)/,
    keyLength: /block_ptr\(b, h\[\d\], h\[(\d)\], &key\)/,
    valueOffset: /block_ptr\(b, h\[(\d)\], h\[\d\], &value\)/,
    valueLength: /block_ptr\(b, h\[\d\], h\[(\d)\], &value\)/,
    flagsLow: /\(uint64_t\)h\[(\d)\] \|/,
    flagsHigh: /\(\(uint64_t\)h\[(\d)\] << 32\)/,
  };
  const tsWord = {
    cmd: /header\[(\d)\] = cmd;/,
    fd: /header\[(\d)\] = fd;/,
    keyOffset: /header\[(\d)\] = keyLength < 0 \? NO_BUFFER : BLOCK_KEY;/,
    keyLength: /header\[(\d)\] = Math\.max\(keyLength, 0\);/,
    valueOffset: /header\[(\d)\] = valueLength < 0 \? NO_BUFFER : BLOCK_VALUE;/,
    valueLength: /header\[(\d)\] = Math\.max\(valueLength, 0\);/,
    flagsLow: /header\[(\d)\] = flags >>> 0;/,
    flagsHigh: /header\[(\d)\] = flags > 0xffff_ffff/,
  };
  const words = new Set();
  for (const [field, re] of Object.entries(cWord)) {
    const inC = re.exec(c)?.[1];
    const inTs = tsWord[field].exec(ts)?.[1];
    assert.ok(inC !== undefined, `found ${field} in native/bpfmap.c`);
    assert.ok(inTs !== undefined, `found ${field} in src/sys/bpf.ts`);
    assert.equal(inTs, inC, `${field} is header word ${inC} in C`);
    words.add(inC);
  }
  assert.equal(words.size, 8, 'eight distinct words');
});
