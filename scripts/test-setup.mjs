#!/usr/bin/env node
// npm's pretest step: makes a new Debian/Ubuntu machine ready for `npm test`. The tests run against
// the real kernel and compare with the tools BPF users have, so they need:
//   bpftool                        results read back another way (most test files)
//   clang, llvm                    a BPF object built from C (56.btf-read)
//   libbpf-dev                     libbpf's own CO-RE relocations, compared with ours (59.core)
//   cc + libc headers + uapi       C layouts checked against the compiler (05, 35, 56; bench/ref.c)
//   python3, make, g++             node-gyp: the AddressSanitizer build of the addon (82.fuzz)
//   python3                        a pseudo-terminal for `bpfmap watch` (70.cli, helpers/pty-run.py)
//   tmux                           the CLI in a real terminal
//   /usr/bin/time (package time)   the CLI's peak memory while it streams a dump (72.cli-bpftool, bench)
//   the other arch's gcc and libc  `npm pack` builds both prebuilds (97.package)
//   setpriv, mount                 dropping privileges (88.privilege); mounting bpffs
//   ip (iproute2)                  network namespaces and veth pairs (66.links-net)
//   <sys/sdt.h> (systemtap-sdt-dev) USDT probes in a C program (66.links-usdt)
//   prometheus                     a real server scraping `bpfmap export` (75.metrics; its service is not started)
// and bpffs at /sys/fs/bpf, tracefs at /sys/kernel/tracing and a cgroup2 hierarchy (cgroup maps and
// programs, 65.map-types) at /sys/fs/cgroup. Missing packages are installed with
// apt-get when root (BPFMAP_NO_APT=1 turns that off); otherwise ONE message names the command to run.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { aptInstall, which } from './setup-common.mjs';

/** [what must be there, the Debian package that brings it]. */
const needs = [
  [() => which('bpftool'), 'bpftool'],
  [() => which('clang'), 'clang'],
  [() => which('llc') || which('llc-14') || existsSync('/usr/lib/llvm-14/bin/llc'), 'llvm'],
  [() => which('cc') && which('gcc'), 'gcc'],
  [() => existsSync('/usr/include/stdio.h'), 'libc6-dev'],
  [() => existsSync('/usr/include/linux/bpf.h'), 'linux-libc-dev'],
  [() => existsSync('/usr/include/bpf/libbpf.h'), 'libbpf-dev'],
  [() => which('g++'), 'g++'],
  [() => which('make'), 'make'],
  [() => which('python3'), 'python3'],
  [() => which('tmux'), 'tmux'],
  [() => existsSync('/usr/bin/time'), 'time'],
  ...(arch() === 'arm64'
    ? [
        [() => which('x86_64-linux-gnu-gcc'), 'gcc-x86-64-linux-gnu'],
        [() => existsSync('/usr/x86_64-linux-gnu/include/stdio.h'), 'libc6-dev-amd64-cross'],
      ]
    : [
        [() => which('aarch64-linux-gnu-gcc'), 'gcc-aarch64-linux-gnu'],
        [() => existsSync('/usr/aarch64-linux-gnu/include/stdio.h'), 'libc6-dev-arm64-cross'],
      ]),
  [() => which('setpriv'), 'util-linux'],
  [() => which('mount'), 'mount'],
  [() => which('ip'), 'iproute2'],
  [
    () =>
      existsSync(`/usr/include/${arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/sys/sdt.h`) ||
      existsSync('/usr/include/sys/sdt.h'),
    'systemtap-sdt-dev',
  ],
  [() => which('prometheus'), 'prometheus'],
];
aptInstall(
  needs.filter(([present]) => !present()).map(([, pkg]) => pkg),
  'the test suite',
);

const mounted = (dir, type) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => (dir === '*' || l.split(' ')[1] === dir) && l.split(' ')[2] === type);
for (const [dir, type] of [
  ['/sys/fs/bpf', 'bpf'],
  ['/sys/kernel/tracing', 'tracefs'],
  ['/sys/fs/cgroup', 'cgroup2'],
]) {
  if (mounted(type === 'cgroup2' ? '*' : dir, type) || !existsSync(dir)) continue;
  try {
    execFileSync('mount', ['-t', type, type, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    console.error(
      `bpfmap: the test suite needs ${type} at ${dir}. Run \`sudo mount -t ${type} ${type} ${dir}\` (${String(e.stderr || e.message).trim()}).`,
    );
    process.exit(1);
  }
}
