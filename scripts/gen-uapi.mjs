#!/usr/bin/env node
// Generates src/sys/uapi.ts from the C compiler's view of <linux/bpf.h>.
//
// The enumerators are found in the header's text, and their values are printed
// by a small C program compiled against the same header, so no value is typed
// by hand. Map types newer than the installed header are listed in NEWER below
// with the kernel release that added them; the test suite checks them against
// the running kernel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const header = process.env.BPF_HEADER ?? '/usr/include/linux/bpf.h';
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'sys', 'uapi.ts');
const text = readFileSync(header, 'utf8');

/** Enumerator names of the first enum whose body contains `marker`. */
function enumerators(marker) {
  const re = /enum\s*(\w*)\s*\{([^}]*)\}/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[2].replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    if (!body.includes(marker)) continue;
    return body
      .split(',')
      .map((s) => s.trim().split(/\s*=\s*/))
      .filter(([name]) => /^[A-Z][A-Z0-9_]*$/.test(name ?? '') && !name.startsWith('__'))
      .map(([name, value]) => ({ name, alias: /^[A-Z][A-Z0-9_]*$/.test(value ?? '') }));
  }
  throw new Error(`no enum containing ${marker} in ${header}`);
}

const groups = {
  cmd: enumerators('BPF_MAP_CREATE').filter((e) => !e.alias),
  mapType: enumerators('BPF_MAP_TYPE_HASH').filter((e) => !e.alias && e.name.startsWith('BPF_MAP_TYPE_')),
  progType: enumerators('BPF_PROG_TYPE_SOCKET_FILTER').filter((e) => !e.alias),
  updateFlags: enumerators('BPF_NOEXIST'),
  mapFlags: enumerators('BPF_F_NO_PREALLOC'),
  attachType: enumerators('BPF_CGROUP_INET_INGRESS').filter((e) => !e.alias),
  testRunFlags: ['BPF_F_TEST_RUN_ON_CPU', 'BPF_F_TEST_XDP_LIVE_FRAMES'].map((name) => ({ name })),
  // Helper ids: the names listed by __BPF_FUNC_MAPPER, values from enum bpf_func_id.
  helpers: helperNames().map((n) => ({ name: `BPF_FUNC_${n}`, helper: n })),
};

function helperNames() {
  const start = text.indexOf('#define __BPF_FUNC_MAPPER');
  if (start < 0) throw new Error(`no __BPF_FUNC_MAPPER in ${header}`);
  const body = text.slice(start, text.indexOf('\n\n', start));
  return [...body.matchAll(/FN\((\w+)/g)].map((m) => m[1]).filter((n) => n !== 'unspec');
}

// Map types added after the installed header's release (values from linux/bpf.h of that release).
const NEWER = {
  mapType: [
    ['BPF_MAP_TYPE_CGRP_STORAGE', 32, '6.2'],
    ['BPF_MAP_TYPE_ARENA', 33, '6.9'],
  ],
};

// The first kernel release that has each name (from the kernel's include/uapi/linux/bpf.h history),
// written into the generated doc comments as `@kernel`. Names missing here get no tag.
const SINCE = {
  // enum bpf_map_type
  BPF_MAP_TYPE_HASH: '3.19',
  BPF_MAP_TYPE_ARRAY: '3.19',
  BPF_MAP_TYPE_PROG_ARRAY: '4.2',
  BPF_MAP_TYPE_PERF_EVENT_ARRAY: '4.3',
  BPF_MAP_TYPE_PERCPU_HASH: '4.6',
  BPF_MAP_TYPE_PERCPU_ARRAY: '4.6',
  BPF_MAP_TYPE_STACK_TRACE: '4.6',
  BPF_MAP_TYPE_CGROUP_ARRAY: '4.8',
  BPF_MAP_TYPE_LRU_HASH: '4.10',
  BPF_MAP_TYPE_LRU_PERCPU_HASH: '4.10',
  BPF_MAP_TYPE_LPM_TRIE: '4.11',
  BPF_MAP_TYPE_ARRAY_OF_MAPS: '4.12',
  BPF_MAP_TYPE_HASH_OF_MAPS: '4.12',
  BPF_MAP_TYPE_DEVMAP: '4.14',
  BPF_MAP_TYPE_SOCKMAP: '4.14',
  BPF_MAP_TYPE_CPUMAP: '4.15',
  BPF_MAP_TYPE_XSKMAP: '4.18',
  BPF_MAP_TYPE_SOCKHASH: '4.18',
  BPF_MAP_TYPE_CGROUP_STORAGE: '4.19',
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: '4.19',
  BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: '4.20',
  BPF_MAP_TYPE_QUEUE: '4.20',
  BPF_MAP_TYPE_STACK: '4.20',
  BPF_MAP_TYPE_SK_STORAGE: '5.2',
  BPF_MAP_TYPE_DEVMAP_HASH: '5.4',
  BPF_MAP_TYPE_STRUCT_OPS: '5.6',
  BPF_MAP_TYPE_RINGBUF: '5.8',
  BPF_MAP_TYPE_INODE_STORAGE: '5.10',
  BPF_MAP_TYPE_TASK_STORAGE: '5.11',
  BPF_MAP_TYPE_BLOOM_FILTER: '5.16',
  BPF_MAP_TYPE_USER_RINGBUF: '6.1',
  BPF_MAP_TYPE_CGRP_STORAGE: '6.2',
  BPF_MAP_TYPE_ARENA: '6.9',
  // enum bpf_prog_type
  BPF_PROG_TYPE_SOCKET_FILTER: '3.19',
  BPF_PROG_TYPE_KPROBE: '4.1',
  BPF_PROG_TYPE_SCHED_CLS: '4.1',
  BPF_PROG_TYPE_SCHED_ACT: '4.1',
  BPF_PROG_TYPE_TRACEPOINT: '4.7',
  BPF_PROG_TYPE_XDP: '4.8',
  BPF_PROG_TYPE_PERF_EVENT: '4.9',
  BPF_PROG_TYPE_CGROUP_SKB: '4.10',
  BPF_PROG_TYPE_CGROUP_SOCK: '4.10',
  BPF_PROG_TYPE_LWT_IN: '4.10',
  BPF_PROG_TYPE_LWT_OUT: '4.10',
  BPF_PROG_TYPE_LWT_XMIT: '4.10',
  BPF_PROG_TYPE_SOCK_OPS: '4.13',
  BPF_PROG_TYPE_SK_SKB: '4.14',
  BPF_PROG_TYPE_CGROUP_DEVICE: '4.15',
  BPF_PROG_TYPE_SK_MSG: '4.17',
  BPF_PROG_TYPE_RAW_TRACEPOINT: '4.17',
  BPF_PROG_TYPE_CGROUP_SOCK_ADDR: '4.17',
  BPF_PROG_TYPE_LWT_SEG6LOCAL: '4.18',
  BPF_PROG_TYPE_LIRC_MODE2: '4.18',
  BPF_PROG_TYPE_SK_REUSEPORT: '4.19',
  BPF_PROG_TYPE_FLOW_DISSECTOR: '4.20',
  BPF_PROG_TYPE_CGROUP_SYSCTL: '5.2',
  BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: '5.2',
  BPF_PROG_TYPE_CGROUP_SOCKOPT: '5.3',
  BPF_PROG_TYPE_TRACING: '5.5',
  BPF_PROG_TYPE_STRUCT_OPS: '5.6',
  BPF_PROG_TYPE_EXT: '5.6',
  BPF_PROG_TYPE_LSM: '5.7',
  BPF_PROG_TYPE_SK_LOOKUP: '5.9',
  BPF_PROG_TYPE_SYSCALL: '5.14',
  // enum bpf_cmd
  BPF_MAP_CREATE: '3.18',
  BPF_MAP_LOOKUP_ELEM: '3.18',
  BPF_MAP_UPDATE_ELEM: '3.18',
  BPF_MAP_DELETE_ELEM: '3.18',
  BPF_MAP_GET_NEXT_KEY: '3.18',
  BPF_PROG_LOAD: '3.18',
  BPF_OBJ_PIN: '4.4',
  BPF_OBJ_GET: '4.4',
  BPF_PROG_ATTACH: '4.10',
  BPF_PROG_DETACH: '4.10',
  BPF_PROG_TEST_RUN: '4.12',
  BPF_PROG_GET_NEXT_ID: '4.13',
  BPF_MAP_GET_NEXT_ID: '4.13',
  BPF_PROG_GET_FD_BY_ID: '4.13',
  BPF_MAP_GET_FD_BY_ID: '4.13',
  BPF_OBJ_GET_INFO_BY_FD: '4.13',
  BPF_PROG_QUERY: '4.15',
  BPF_RAW_TRACEPOINT_OPEN: '4.17',
  BPF_BTF_LOAD: '4.18',
  BPF_BTF_GET_FD_BY_ID: '4.18',
  BPF_TASK_FD_QUERY: '4.18',
  BPF_MAP_LOOKUP_AND_DELETE_ELEM: '4.20',
  BPF_MAP_FREEZE: '5.2',
  BPF_BTF_GET_NEXT_ID: '5.4',
  BPF_MAP_LOOKUP_BATCH: '5.6',
  BPF_MAP_LOOKUP_AND_DELETE_BATCH: '5.6',
  BPF_MAP_UPDATE_BATCH: '5.6',
  BPF_MAP_DELETE_BATCH: '5.6',
  BPF_LINK_CREATE: '5.7',
  BPF_LINK_UPDATE: '5.7',
  BPF_LINK_GET_FD_BY_ID: '5.8',
  BPF_LINK_GET_NEXT_ID: '5.8',
  BPF_ENABLE_STATS: '5.8',
  BPF_ITER_CREATE: '5.8',
  BPF_LINK_DETACH: '5.9',
  BPF_PROG_BIND_MAP: '5.10',
  // element-command flags
  BPF_ANY: '3.18',
  BPF_NOEXIST: '3.18',
  BPF_EXIST: '3.18',
  BPF_F_LOCK: '5.1',
  // map_flags
  BPF_F_NO_PREALLOC: '4.6',
  BPF_F_NO_COMMON_LRU: '4.10',
  BPF_F_NUMA_NODE: '4.14',
  BPF_F_RDONLY: '4.15',
  BPF_F_WRONLY: '4.15',
  BPF_F_STACK_BUILD_ID: '4.17',
  BPF_F_ZERO_SEED: '5.0',
  BPF_F_RDONLY_PROG: '5.2',
  BPF_F_WRONLY_PROG: '5.2',
  BPF_F_CLONE: '5.4',
  BPF_F_MMAPABLE: '5.5',
  BPF_F_PRESERVE_ELEMS: '5.10',
  BPF_F_INNER_MAP: '5.10',
  // BPF_PROG_TEST_RUN flags
  BPF_F_TEST_RUN_ON_CPU: '5.10',
  BPF_F_TEST_XDP_LIVE_FRAMES: '5.18',
};

// What each flag means, for its doc comment.
const MEANING = {
  BPF_ANY: 'update: create the element or replace an existing one',
  BPF_NOEXIST: 'update: create the element only if the key is absent (else EEXIST)',
  BPF_EXIST: 'update: replace the element only if the key is present (else ENOENT)',
  BPF_F_LOCK: "lookup/update: take the value's `bpf_spin_lock` while copying (maps whose value has one)",
  BPF_F_NO_PREALLOC: 'map_flags: allocate hash elements on demand instead of at creation',
  BPF_F_NO_COMMON_LRU: 'map_flags: one LRU list per CPU instead of a common one (LRU hashes)',
  BPF_F_NUMA_NODE: 'map_flags: allocate on the NUMA node given by `numa_node`',
  BPF_F_RDONLY: 'map_flags / open flags: the file descriptor is read-only for syscalls',
  BPF_F_WRONLY: 'map_flags / open flags: the file descriptor is write-only for syscalls',
  BPF_F_STACK_BUILD_ID: 'map_flags: a stack-trace map stores build ids and offsets instead of addresses',
  BPF_F_ZERO_SEED: 'map_flags: hash with seed zero (reproducible iteration order, for tests)',
  BPF_F_RDONLY_PROG: 'map_flags: BPF programs may only read the map',
  BPF_F_WRONLY_PROG: 'map_flags: BPF programs may only write the map',
  BPF_F_CLONE: 'map_flags: socket-local storage is cloned to child sockets',
  BPF_F_MMAPABLE: 'map_flags: an array map can be mmap()ed',
  BPF_F_PRESERVE_ELEMS: 'map_flags: a perf event array keeps its entries when the creating fd is closed',
  BPF_F_INNER_MAP: 'map_flags: an inner map whose max_entries may differ between maps in a map-in-map',
  BPF_F_TEST_RUN_ON_CPU: 'test_run flags: run the program on the CPU given by `cpu`',
  BPF_F_TEST_XDP_LIVE_FRAMES: 'test_run flags: XDP frames are really sent/redirected',
};

/** A one-line doc comment for a generated constant, with its kernel release when known. */
function doc(name, what, indent = '') {
  const k = SINCE[name];
  return `${indent}/** ${what}${k ? ` @kernel ${k}` : ''} */`;
}

const dir = mkdtempSync(join(tmpdir(), 'bpfmap-uapi-'));
try {
  const all = Object.values(groups).flat();
  const c = [
    `#include <stdio.h>`,
    `#include <${header.startsWith('/usr/include/') ? header.slice('/usr/include/'.length) : header}>`,
    'int main(void) {',
    ...all.map((e) => `  printf("%s %llu\\n", "${e.name}", (unsigned long long)(${e.name}));`),
    '  return 0;',
    '}',
  ].join('\n');
  writeFileSync(join(dir, 'uapi.c'), c);
  execFileSync('cc', ['-o', join(dir, 'uapi'), join(dir, 'uapi.c')]);
  const values = new Map(
    execFileSync(join(dir, 'uapi'), { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([n, v]) => [n, Number(v)]),
  );
  for (const [name, value] of NEWER.mapType) {
    if (!values.has(name)) groups.mapType.push({ name, value });
  }

  const pascal = (s) =>
    s
      .toLowerCase()
      .split('_')
      .map((w) => w[0].toUpperCase() + w.slice(1))
      .join('');
  const val = (e) => values.get(e.name) ?? NEWER.mapType.find(([n]) => n === e.name)[1];
  const dpkgFormat = ['$', '{Package} $', '{Version}'].join(''); // dpkg-query's own ${...} fields
  const headerPackage = execFileSync(
    'sh',
    ['-c', `dpkg-query -W -f='${dpkgFormat}' linux-libc-dev 2>/dev/null || echo unknown`],
    {
      encoding: 'utf8',
    },
  ).trim();
  const lines = [
    `// Generated by scripts/gen-uapi.mjs from ${header} (${headerPackage}).`,
    '// Do not edit: run `npm run gen:uapi`.',
    '',
    '/** `enum bpf_cmd`: the bpf(2) commands. */',
    'export const Cmd = {',
    ...groups.cmd.flatMap((e) => [doc(e.name, `\`${e.name}\`.`, '  '), `  ${e.name}: ${val(e)},`]),
    '} as const;',
    '',
    '/** `enum bpf_map_type`. */',
    'export enum MapType {',
    ...groups.mapType.flatMap((e) => [
      doc(e.name, `\`${e.name}\`.`, '  '),
      `  ${pascal(e.name.slice('BPF_MAP_TYPE_'.length))} = ${val(e)},`,
    ]),
    '}',
    '',
    '// The map types under their kernel names.',
    ...groups.mapType.flatMap((e) => {
      const member = pascal(e.name.slice('BPF_MAP_TYPE_'.length));
      return [doc(e.name, `The kernel's name for {@link MapType.${member}}.`), `export const ${e.name} = MapType.${member};`];
    }),
    '',
    '/** The kernel names of the map types, by value. */',
    'export const MAP_TYPE_NAMES: Readonly<Record<number, string>> = {',
    ...groups.mapType.map((e) => `  ${val(e)}: '${e.name}',`),
    '};',
    '',
    '/** `enum bpf_prog_type`. */',
    'export enum ProgType {',
    ...groups.progType.flatMap((e) => [
      doc(e.name, `\`${e.name}\`.`, '  '),
      `  ${pascal(e.name.slice('BPF_PROG_TYPE_'.length))} = ${val(e)},`,
    ]),
    '}',
    '',
    '// Flags for the element commands.',
    ...groups.updateFlags.flatMap((e) => [
      doc(e.name, `\`${e.name}\`: ${MEANING[e.name] ?? 'flag'}.`),
      `export const ${e.name} = ${val(e)};`,
    ]),
    '',
    '// Flags for BPF_MAP_CREATE (map_flags).',
    ...groups.mapFlags.flatMap((e) => [
      doc(e.name, `\`${e.name}\`: ${MEANING[e.name] ?? 'flag'}.`),
      `export const ${e.name} = ${val(e)};`,
    ]),
    '',
    '/** `enum bpf_attach_type`. */',
    'export enum AttachType {',
    ...groups.attachType.map((e) => `  ${pascal(e.name.slice('BPF_'.length))} = ${val(e)},`),
    '}',
    '',
    '// Flags for BPF_PROG_TEST_RUN.',
    ...groups.testRunFlags.flatMap((e) => [
      doc(e.name, `\`${e.name}\`: ${MEANING[e.name] ?? 'flag'}.`),
      `export const ${e.name} = ${val(e)};`,
    ]),
    '',
    '/** BPF helper ids by name (`enum bpf_func_id` without the BPF_FUNC_ prefix). */',
    'export const HELPERS: Readonly<Record<string, number>> = {',
    ...groups.helpers.map((e) => `  ${e.helper}: ${val(e)},`),
    '};',
    '',
    '/** Every map-creation flag by name. */',
    'export const MAP_FLAG_NAMES: ReadonlyArray<readonly [string, number]> = [',
    ...groups.mapFlags.map((e) => `  ['${e.name}', ${val(e)}],`),
    '];',
    '',
  ];
  writeFileSync(out, lines.join('\n'));
  console.log(`wrote ${out}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
