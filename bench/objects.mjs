// openObject + load of a larger object (10 programs with CO-RE reads, maps, global data) against
// libbpf's bpf_object__open_file + bpf_object__load of the same file (bench/objects-ref.c).
//   node bench/objects.mjs [--rounds R]
// The first load is the first in this process: it includes reading the kernel's BTF (libbpf reads it
// on every load, bpfmap once per process) and compiling bpfmap's code on its first run, but not
// importing bpfmap (importMs, measured apart, as libbpf's side does not time loading libbpf.so).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const importStart = performance.now();
const importCpuStart = process.cpuUsage();
const { loadObject } = await import('bpfmap');
const importMs = performance.now() - importStart;
const importCpu = process.cpuUsage(importCpuStart);

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' } } });
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'bpfmap-bench-objects-'));
try {
  writeFileSync(
    join(dir, 'vmlinux.h'),
    execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 256 << 20 }),
  );
  const fields = [
    'pid',
    'tgid',
    'prio',
    'static_prio',
    'normal_prio',
    'flags',
    'exit_code',
    'exit_signal',
    'policy',
    'nr_cpus_allowed',
  ];
  let src = `#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
const volatile __u32 scale = 1;
__u64 totals[16];
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } seen SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } out SEC(".maps");
static __noinline __u64 mix(__u64 a, __u64 b) { return (a * 31 + b) * scale; }
`;
  for (let p = 0; p < 10; p++) {
    src += `SEC("syscall") int prog${p}(void *ctx) {
  struct task_struct *t = (void *)bpf_get_current_task();
  __u64 acc = ${p};
${fields.map((f) => `  acc = mix(acc, BPF_CORE_READ(t, ${f}));\n  acc = mix(acc, BPF_CORE_READ(t, real_parent, ${f}));`).join('\n')}
  __u32 k = ${p};
  bpf_map_update_elem(&seen, &k, &acc, 0);
  bpf_map_update_elem(&out, &k, &acc, 0);
  totals[${p}] += acc;
  return 0;
}
`;
  }
  writeFileSync(join(dir, 'big.bpf.c'), src);
  const obj = join(dir, 'big.bpf.o');
  const multiarch = `-I/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`;
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', `-I${dir}`, multiarch, '-c', join(dir, 'big.bpf.c'), '-o', obj]);
  const ref = join(dir, 'objects-ref');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', ref, join(here, 'objects-ref.c'), '-lbpf']);

  // Wall time is noisy on a shared machine; CPU time (user = this process's own work, sys = mostly the
  // kernel's verifier, the same for both sides) is the fairer comparison.
  const times = [];
  const users = [];
  const syss = [];
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const o = loadObject(obj);
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    users.push(c.user / 1e3);
    syss.push(c.system / 1e3);
    o.close();
  }
  const libbpf = JSON.parse(execFileSync(ref, [obj, String(rounds)], { encoding: 'utf8' }));
  const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mean = avg(times);
  const cpu = users.map((u, i) => u + syss[i]);
  const result = {
    objectBytes: statSync(obj).size,
    programs: 10,
    rounds,
    bpfmap: {
      importMs: +importMs.toFixed(3),
      importCpuMs: +((importCpu.user + importCpu.system) / 1e3).toFixed(3),
      firstMs: +times[0].toFixed(3),
      meanMs: +mean.toFixed(3),
      firstCpuMs: +cpu[0].toFixed(3),
      meanCpuMs: +avg(cpu).toFixed(3),
      firstUserMs: +users[0].toFixed(3),
      meanUserMs: +avg(users).toFixed(3),
      meanSysMs: +avg(syss).toFixed(3),
    },
    libbpf,
    ratioMean: +(mean / libbpf.meanMs).toFixed(2),
    ratioFirst: +(times[0] / libbpf.firstMs).toFixed(2),
    ratioMeanCpu: +(avg(cpu) / libbpf.meanCpuMs).toFixed(2),
    ratioFirstCpu: +(cpu[0] / libbpf.firstCpuMs).toFixed(2),
    ratioMeanUser: +(avg(users) / libbpf.meanUserMs).toFixed(2),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
