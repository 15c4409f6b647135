// The bpf_attr/bpf_map_info offsets and the constants we use agree with the C compiler's view of <linux/bpf.h>.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
