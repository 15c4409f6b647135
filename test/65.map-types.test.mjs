// Every map type, with the userspace semantics the kernel gives it. Each test backs a row of the
// table in docs/map-types.md.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import {
  Asm,
  AttachType,
  BPF_F_MMAPABLE,
  BPF_F_NO_COMMON_LRU,
  BPF_F_NO_PREALLOC,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BpfError,
  BpfMap,
  BpfProgram,
  MapType,
  ProgType,
  R0,
  R1,
  R2,
  R3,
  R4,
  R6,
  R10,
  PerfEventReader,
  R5,
  R7,
  RingBufReader,
  UserRingBufWriter,
  defineStruct,
  loadProgram,
  lpmIPv4,
  lpmIPv6,
  lpmKey,
  openPidfd,
  possibleCpus,
  u32,
  u64,
} from 'bpfmap';
import { bpftool, closeAfter, readU32, tmpMap } from './helpers/kernel.mjs';

const NCPU = possibleCpus();
const run = (p, data = new Uint8Array(64)) => p.testRun({ data }).retval | 0;
const keyOnStack = (a, map, key) => a.st('u32', R10, -4, key).ldMapFd(R1, map).mov64(R2, R10).add64(R2, -4);

test('lru_hash evicts instead of failing when full; lru_percpu_hash takes BPF_F_NO_COMMON_LRU', (t) => {
  const lru = tmpMap(t, { type: MapType.LruHash, keySize: 4, valueSize: 8, maxEntries: 16 });
  for (let i = 0; i < 200; i++) lru.updateInt(i, i); // never E2BIG
  const n = [...lru.keys()].length;
  assert.ok(n > 0 && n <= 16, `${n} entries remain`);
  assert.equal(lru.lookupInt(199), 199n, 'the newest survives');
  const pc = tmpMap(t, { type: MapType.LruPercpuHash, keySize: 4, valueSize: 8, maxEntries: 16, flags: BPF_F_NO_COMMON_LRU });
  assert.equal(pc.flags & BPF_F_NO_COMMON_LRU, BPF_F_NO_COMMON_LRU);
  for (let i = 0; i < 200; i++) pc.updateInt(i, i);
  assert.deepEqual(pc.lookupInt(199), Array(NCPU).fill(199n));
  const plain = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 4, flags: BPF_F_NO_PREALLOC });
  for (let i = 0; i < 4; i++) plain.updateInt(i, i);
  assert.throws(
    () => plain.updateInt(9, 9),
    (e) => BpfError.is(e, 'E2BIG') && /max_entries=4/.test(e.message),
    'a hash without LRU fills up',
  );
});

test('BPF_F_MMAPABLE arrays: mmap() views values live, both ways, including a program writing', (t) => {
  const m = tmpMap(t, { type: MapType.Array, key: u32, value: u64, maxEntries: 8, flags: BPF_F_MMAPABLE });
  const view = m.mmap();
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  assert.equal(view.length, 64);
  dv.setBigUint64(3 * 8, 1234n, true);
  assert.equal(m.lookupInt(3), 1234n, 'a write through the view is what lookup sees');
  m.updateInt(5, 99);
  assert.equal(dv.getBigUint64(5 * 8, true), 99n, 'an update is visible through the view');
  // A program writing element 6.
  const w = new Asm();
  keyOnStack(w, m, 6).call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R2, 4242).st('u64', R0, 0, R2);
  const p = loadProgram({ type: ProgType.SocketFilter, instructions: w.label('out').mov64(R0, 0).exit() });
  run(p);
  p.close();
  assert.equal(dv.getBigUint64(6 * 8, true), 4242n);
  BpfMap.unmap(view);
  assert.equal(view.length, 0, 'released: the view is empty, never dangling');
  m.freeze();
  assert.throws(
    () => m.mmap(),
    (e) => BpfError.is(e, 'EPERM') && /writable: false/.test(e.message),
  );
  const ro = m.mmap({ writable: false });
  assert.equal(ro.getBigUint64(3 * 8), 1234n);
  assert.equal(ro.buffer, undefined, 'no typed array over read-only pages reaches the caller');
  BpfMap.unmap(ro);
  assert.equal(ro.released, true);
  const plain = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
  assert.throws(
    () => plain.mmap(),
    /needs an array map created with BPF_F_MMAPABLE, or an arena; this is a BPF_MAP_TYPE_ARRAY map without that flag/,
  );
});

test('BPF_F_RDONLY / BPF_F_WRONLY maps refuse syscall writes / reads (programs still may)', (t) => {
  const ro = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2, flags: BPF_F_RDONLY });
  assert.throws(
    () => ro.updateInt(0, 1),
    (e) => BpfError.is(e, 'EPERM') && /read-only/.test(e.message),
  );
  assert.deepEqual(ro.lookup(u32.encode(0)), new Uint8Array(4));
  const wo = tmpMap(t, { type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 2, flags: BPF_F_WRONLY });
  wo.updateInt(0, 1);
  assert.throws(
    () => wo.lookupInt(0),
    (e) => BpfError.is(e, 'EPERM') && /write-only/.test(e.message),
  );
});

test('prog_array: programs go in by object or fd, come out as ids; a tail call runs through it', (t) => {
  const pa = tmpMap(t, { type: MapType.ProgArray, keySize: 4, valueSize: 4, maxEntries: 4 });
  const target = closeAfter(
    t,
    loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().mov64(R0, 42).exit(), name: 'target' }),
  );
  pa.update(u32.encode(2), target);
  assert.equal(readU32(pa.lookup(u32.encode(2))), target.id, 'lookup gives the program id');
  assert.equal(BpfProgram.fromId(readU32(pa.lookup(u32.encode(2)))).name, 'target');
  // The caller: tail_call(ctx, prog_array, 2); on failure return 7.
  const caller = closeAfter(
    t,
    loadProgram({
      type: ProgType.SocketFilter,
      instructions: new Asm().ldMapFd(R2, pa).mov64(R3, 2).call('tail_call').mov64(R0, 7).exit(),
    }),
  );
  assert.equal(run(caller), 42, 'the tail call reached the target');
  pa.delete(u32.encode(2));
  assert.equal(run(caller), 7, 'an empty slot falls through');
  const notProg = tmpMap(t, { type: MapType.Hash, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(
    () => pa.update(u32.encode(0), notProg),
    /a BPF_MAP_TYPE_PROG_ARRAY value must be a BPF program; fd \d+ is bpf-map/,
  );
  assert.throws(() => pa.update(u32.encode(0), u32.encode(notProg.fd)), /fd \d+ is bpf-map/);
});

test('array_of_maps / hash_of_maps: update with a BpfMap, lookup gives its id, lookupInnerMap opens it', (t) => {
  const inner = tmpMap(t, { type: MapType.Array, name: 'inner_t', keySize: 4, valueSize: 8, maxEntries: 2 });
  for (const type of [MapType.ArrayOfMaps, MapType.HashOfMaps]) {
    const outer = tmpMap(t, { type, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: inner });
    outer.update(u32.encode(1), inner);
    assert.equal(readU32(outer.lookup(u32.encode(1))), inner.id);
    const opened = closeAfter(t, outer.lookupInnerMap(u32.encode(1)));
    assert.equal(opened.name, 'inner_t');
    inner.updateInt(0, 5);
    assert.equal(opened.lookupInt(0), 5n);
    assert.equal(type === MapType.HashOfMaps ? outer.lookupInnerMap(u32.encode(0)) : undefined, undefined);
  }
  const noTemplate = () => BpfMap.create({ type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(noTemplate, /inner map/);
});

test('stack_trace: a program records its kernel stack; the ids read back as addresses of kernel functions', (t) => {
  const depth = 32;
  const stacks = tmpMap(t, { type: MapType.StackTrace, keySize: 4, valueSize: 8 * depth, maxEntries: 16 });
  const ids = tmpMap(t, { type: MapType.Array, key: u32, value: u64, maxEntries: 1 });
  const a = new Asm().mov64(R6, R1).ldMapFd(R2, stacks).mov64(R3, 0).call('get_stackid').mov64(R6, R0);
  keyOnStack(a, ids, 0).call('map_lookup_elem').jeq(R0, 0, 'out').st('u64', R0, 0, R6);
  const p = closeAfter(t, loadProgram({ type: ProgType.RawTracepoint, instructions: a.label('out').mov64(R0, 0).exit() }));
  p.testRun({ ctx: new Uint8Array(8) });
  const id = Number(BigInt.asIntN(64, ids.lookupInt(0)));
  assert.ok(id >= 0, `get_stackid returned ${id}`);
  const raw = stacks.lookup(u32.encode(id));
  const addrs = [];
  for (let i = 0; i < depth; i++) {
    const x = new DataView(raw.buffer, raw.byteOffset + 8 * i, 8).getBigUint64(0, true);
    if (x === 0n) break;
    addrs.push(x);
  }
  assert.ok(addrs.length >= 3, `${addrs.length} frames`);
  // Symbolize with /proc/kallsyms: the run went through the test-run path.
  const syms = readFileSync('/proc/kallsyms', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 3 && /^[tT]$/.test(f[1]))
    .map(([addr, , name]) => [BigInt(`0x${addr}`), name])
    .sort((x, y) => (x[0] < y[0] ? -1 : 1));
  const nameOf = (addr) => {
    let lo = 0;
    let hi = syms.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (syms[mid][0] <= addr) lo = mid;
      else hi = mid - 1;
    }
    return syms[lo][1];
  };
  const names = addrs.map(nameOf);
  assert.ok(
    names.some((n) => /test_run/.test(n)),
    names.join(' < '),
  );
  assert.equal(stacks.lookup(u32.encode((id + 1) % 16)), undefined, 'an unused stack id reads as absent');
});

test('perf_event_array: PerfEventReader opens an event per CPU; records a program sends arrive tagged by CPU, in order per CPU', async (t) => {
  const pe = tmpMap(t, { type: MapType.PerfEventArray, keySize: 4, valueSize: 4, maxEntries: NCPU });
  assert.throws(
    () => pe.update(u32.encode(0), pe),
    /a BPF_MAP_TYPE_PERF_EVENT_ARRAY value must be a perf event; fd \d+ is bpf-map/,
  );
  assert.throws(
    () => pe.lookup(u32.encode(0)),
    (e) => BpfError.is(e, 'ENOTSUPP') && /does not support this operation from userspace/.test(e.message),
  );
  const seq = tmpMap(t, { type: MapType.Array, key: u32, value: u64, maxEntries: 1 });
  // perf_event_output(ctx, map, BPF_F_CURRENT_CPU, &{ magic, seq }, 16)
  const a = new Asm().mov64(R6, R1);
  keyOnStack(a, seq, 0).call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R1, 1).atomic('add', 'u64', R0, 0, R1, { fetch: true });
  a.st('u64', R10, -16, R1).ld64(R2, 0xfeedfacecafen).st('u64', R10, -24, R2);
  a.mov64(R1, R6).ldMapFd(R2, pe).ld64(R3, 0xffffffffn).mov64(R4, R10).add64(R4, -24).mov64(R5, 16).call('perf_event_output');
  const p = closeAfter(t, loadProgram({ type: ProgType.RawTracepoint, instructions: a.label('out').mov64(R0, 0).exit() }));
  const reader = new PerfEventReader(pe);
  t.after(() => reader.close());
  assert.equal(reader.read(), undefined);
  const N = 200;
  const byCpu = new Map();
  const consumer = (async () => {
    let n = 0;
    for await (const rec of reader) {
      assert.equal(rec.lost, undefined, 'nothing dropped');
      const v = new DataView(rec.data.buffer, rec.data.byteOffset);
      assert.equal(v.getBigUint64(0, true), 0xfeedfacecafen);
      const list = byCpu.get(rec.cpu) ?? [];
      list.push(Number(v.getBigUint64(8, true)));
      byCpu.set(rec.cpu, list);
      if (++n === N) break;
    }
  })();
  const sent = new Map();
  for (let i = 0; i < N; i++) {
    const cpu = i % NCPU;
    p.testRun({ ctx: new Uint8Array(8), cpu });
    sent.set(cpu, [...(sent.get(cpu) ?? []), i]);
    if (i % 20 === 19) await new Promise(setImmediate);
  }
  await consumer;
  assert.deepEqual(new Map([...byCpu].sort()), new Map([...sent].sort()), 'each CPU saw its own records, in order');
  reader.close();
  assert.throws(() => reader.read(), /reader is closed/);
});

test('cgroup_array: values are cgroup directory fds', (t) => {
  const cg = tmpMap(t, { type: MapType.CgroupArray, keySize: 4, valueSize: 4, maxEntries: 2 });
  const fd = openSync(cgroup2(), 'r');
  t.after(() => closeSync(fd));
  cg.update(u32.encode(0), u32.encode(fd));
  assert.equal(cg.delete(u32.encode(0)), true);
  const file = openSync('/proc/self/status', 'r');
  t.after(() => closeSync(file));
  assert.throws(
    () => cg.update(u32.encode(1), u32.encode(file)),
    /a BPF_MAP_TYPE_CGROUP_ARRAY value must be a cgroup directory; fd \d+ is \/proc\/\d+\/status/,
  );
});

test('lpm_trie: longest-prefix match with lpmKey and typed IPv4/IPv6 prefixes; BPF_F_NO_PREALLOC is required and said so', (t) => {
  const m = tmpMap(t, { type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 8, flags: BPF_F_NO_PREALLOC });
  m.update(lpmKey(8, [10, 0, 0, 0]), u32.encode(8));
  m.update(lpmKey(16, [10, 1, 0, 0]), u32.encode(16));
  assert.equal(readU32(m.lookup(lpmKey(32, [10, 1, 2, 3]))), 16);
  assert.equal(readU32(m.lookup(lpmKey(32, [10, 2, 0, 1]))), 8);
  assert.throws(
    () => BpfMap.create({ type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 8 }),
    (e) => BpfError.is(e, 'EINVAL') && /BPF_F_NO_PREALLOC/.test(e.message),
  );
  // Typed prefixes: text in, longest match out.
  const routes = tmpMap(t, { type: MapType.LpmTrie, key: lpmIPv4, value: u32, maxEntries: 8, flags: BPF_F_NO_PREALLOC }).typed();
  routes.set('0.0.0.0/0', 1).set('192.168.0.0/16', 16).set('192.168.7.0/24', 24);
  assert.equal(routes.get('192.168.7.9'), 24);
  assert.equal(routes.get('192.168.8.9'), 16);
  assert.equal(routes.get('8.8.8.8'), 1);
  assert.deepEqual([...routes.keys()].sort(), ['0.0.0.0/0', '192.168.0.0/16', '192.168.7.0/24']);
  assert.throws(
    () => routes.set('192.168.0.0/33', 1),
    /expected an IPv4 prefix such as "10.1.0.0\/16" \(prefix length 0 to 32\)/,
  );
  const routes6 = tmpMap(t, { type: MapType.LpmTrie, key: lpmIPv6, value: u32, maxEntries: 8, flags: BPF_F_NO_PREALLOC }).typed();
  routes6.set('2001:db8::/32', 32).set('2001:db8:1::/48', 48);
  assert.equal(routes6.get('2001:db8:1::5'), 48);
  assert.equal(routes6.get('2001:db8:2::5'), 32);
  assert.equal(routes6.get('::1'), undefined);
  const v6 = tmpMap(t, { type: MapType.LpmTrie, keySize: 20, valueSize: 4, maxEntries: 8, flags: BPF_F_NO_PREALLOC });
  v6.update(lpmKey(32, Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array(12).fill(0)])), u32.encode(6));
  assert.equal(readU32(v6.lookup(lpmKey(128, Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1])))), 6);
});

test('devmap, devmap_hash, cpumap: ifindex and queue-size values; xskmap: created, lookups refused', (t) => {
  const dev = tmpMap(t, { type: MapType.Devmap, keySize: 4, valueSize: 4, maxEntries: 4 });
  dev.update(u32.encode(0), u32.encode(1)); // loopback
  assert.equal(readU32(dev.lookup(u32.encode(0))), 1);
  const devh = tmpMap(t, { type: MapType.DevmapHash, keySize: 4, valueSize: 4, maxEntries: 4 });
  devh.update(u32.encode(1), u32.encode(1));
  assert.equal(readU32(devh.lookup(u32.encode(1))), 1);
  assert.throws(
    () => devh.update(u32.encode(2), u32.encode(0x7fffff)),
    (e) => BpfError.is(e) && ['ENODEV', 'EINVAL'].includes(e.code),
  );
  const cpu = tmpMap(t, { type: MapType.Cpumap, keySize: 4, valueSize: 4, maxEntries: NCPU });
  cpu.update(u32.encode(0), u32.encode(256));
  assert.equal(readU32(cpu.lookup(u32.encode(0))), 256);
  const xsk = tmpMap(t, { type: MapType.Xskmap, keySize: 4, valueSize: 4, maxEntries: 4 });
  assert.equal(xsk.delete(u32.encode(0)), true, 'deleting an empty slot succeeds');
  assert.throws(
    () => xsk.lookup(u32.encode(0)),
    (e) => BpfError.is(e, 'EOPNOTSUPP'),
  );
  assert.throws(() => xsk.update(u32.encode(0), u32.encode(dev.fd)), /an AF_XDP socket; fd \d+ is bpf-map/);
});

test('sockmap / sockhash: values are sockets, given as net.Socket or raw fds; lookups give socket cookies', async (t) => {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise((r) => server.once('connection', r));
  const client = net.connect(server.address().port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const peer = await accepted;
  t.after(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  const sm = tmpMap(t, { type: MapType.Sockmap, keySize: 4, valueSize: 8, maxEntries: 4 });
  sm.update(u32.encode(0), client);
  sm.update(u32.encode(1), u64.encode(BigInt(peer._handle.fd)));
  const c0 = sm.lookup(u32.encode(0));
  const c1 = sm.lookup(u32.encode(1));
  assert.notDeepEqual(c0, c1, 'two sockets, two cookies');
  assert.ok(u64.decode(c0) > 0n);
  const sh = tmpMap(t, { type: MapType.Sockhash, keySize: 8, valueSize: 8, maxEntries: 4 });
  sh.update(u64.encode(0xabcn), server); // a listening socket
  assert.ok(u64.decode(sh.lookup(u64.encode(0xabcn))) > 0n);
  assert.throws(() => sm.update(u32.encode(2), sm), /a BPF_MAP_TYPE_SOCKMAP value must be a socket; fd \d+ is bpf-map/);
  const unconnected = new net.Socket();
  assert.throws(() => sm.update(u32.encode(2), unconnected), /has no open fd/);
});

test('cgroup_storage, percpu_cgroup_storage: usable once a program using it is attached to a cgroup; keys {cgroup_inode_id, attach_type}', (t) => {
  const dir = `${cgroup2()}/bpfmap_test_${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const attachments = [];
  t.after(() => {
    for (const a of attachments) a.detach(); // before the cgroup goes
    rmdirSync(dir);
  });
  const key = defineStruct('bpf_cgroup_storage_key', { cgroup_inode_id: 'u64', attach_type: 'u32' });
  const ino = statSync(dir, { bigint: true }).ino;
  /** A storage map of `type`, and a cgroup_skb program counting into it attached as `attachType`. */
  const attachCounter = (type, attachType) => {
    const st = tmpMap(t, { type, key, value: u64, maxEntries: 0 });
    assert.deepEqual([...st.keys()], [], 'no storage before a program is attached');
    const a = new Asm().ldMapFd(R1, st).mov64(R2, 0).call('get_local_storage');
    a.mov64(R1, 1).atomic('add', 'u64', R0, 0, R1).mov64(R0, 1).exit();
    const p = closeAfter(t, loadProgram({ type: ProgType.CgroupSkb, instructions: a, expectedAttachType: attachType }));
    const att = p.attachCgroup(dir, attachType);
    attachments.push(att);
    return { st, att, k: { cgroup_inode_id: ino, attach_type: attachType } };
  };
  const { st, att, k } = attachCounter(MapType.CgroupStorage, AttachType.CgroupInetEgress);
  const tm = st.typed();
  assert.equal(tm.get(k), 0n, 'the storage exists once attached');
  tm.set(k, 41n);
  assert.equal(tm.get(k), 41n);
  assert.deepEqual([...tm.keys()], [k]);
  att.detach();
  assert.equal(att.attached, false);
  // The per-CPU flavour: one value per CPU under the same key.
  const per = attachCounter(MapType.PercpuCgroupStorage, AttachType.CgroupInetIngress);
  const ptm = per.st.typedPerCpu();
  assert.deepEqual(ptm.get(per.k), Array(NCPU).fill(0n));
  const values = Array.from({ length: NCPU }, (_, i) => BigInt(i + 1));
  ptm.set(per.k, values);
  assert.deepEqual(ptm.get(per.k), values);
});

test('sk_storage, task_storage, inode_storage, cgrp_storage: BTF values, keyed by socket fd, pidfd, file fd, cgroup fd', async (t) => {
  const stats = defineStruct('owner_stats', { hits: 'u64', tag: 'u32' });
  const make = (type) => tmpMap(t, { type, key: u32, value: stats, maxEntries: 0, flags: BPF_F_NO_PREALLOC });
  const fdKey = (fd) => u32.encode(fd);
  // sockets
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const sk = make(MapType.SkStorage);
  sk.updateStruct(fdKey(server._handle.fd), { hits: 1n, tag: 7 }, stats);
  assert.deepEqual(sk.lookupStruct(fdKey(server._handle.fd), stats), { hits: 1n, tag: 7 });
  // tasks, by pidfd
  const pidfd = openPidfd(process.pid);
  t.after(() => closeSync(pidfd));
  const task = make(MapType.TaskStorage);
  task.updateStruct(fdKey(pidfd), { hits: 2n, tag: 8 }, stats);
  assert.deepEqual(task.lookupStruct(fdKey(pidfd), stats), { hits: 2n, tag: 8 });
  // cgroups, by directory fd
  const cgfd = openSync(cgroup2(), 'r');
  t.after(() => closeSync(cgfd));
  const cg = make(MapType.CgrpStorage);
  cg.updateStruct(fdKey(cgfd), { hits: 3n, tag: 9 }, stats);
  assert.deepEqual(cg.lookupStruct(fdKey(cgfd), stats), { hits: 3n, tag: 9 });
  assert.equal(cg.delete(fdKey(cgfd)), true);
  // inodes, by the fd of a file
  const ino = make(MapType.InodeStorage);
  const file = openSync('/proc/self/status', 'r');
  t.after(() => closeSync(file));
  ino.updateStruct(fdKey(file), { hits: 4n, tag: 10 }, stats);
  assert.deepEqual(ino.lookupStruct(fdKey(file), stats), { hits: 4n, tag: 10 });
  assert.equal(ino.lookupStruct(fdKey(pidfd), stats), undefined, 'another inode has no storage');
  // A storage map without BTF for its value is refused, and the error says why.
  assert.throws(
    () => BpfMap.create({ type: MapType.SkStorage, keySize: 4, valueSize: 8, maxEntries: 0, flags: BPF_F_NO_PREALLOC }),
    (e) => BpfError.is(e, 'EINVAL') && /BTF/.test(e.message),
  );
});

test('ringbuf: records a program outputs arrive in order through an epoll-woken async iterator', async (t) => {
  const rb = tmpMap(t, { type: MapType.Ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const seq = tmpMap(t, { type: MapType.Array, key: u32, value: u64, maxEntries: 1 });
  const a = new Asm();
  keyOnStack(a, seq, 0).call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R1, 1).atomic('add', 'u64', R0, 0, R1, { fetch: true });
  a.st('u64', R10, -16, R1).ld64(R2, 0xfeedfacecafen).st('u64', R10, -24, R2);
  a.ldMapFd(R1, rb).mov64(R2, R10).add64(R2, -24).mov64(R3, 16).mov64(R4, 0).call('ringbuf_output');
  const p = closeAfter(t, loadProgram({ type: ProgType.RawTracepoint, instructions: a.label('out').mov64(R0, 0).exit() }));
  const reader = new RingBufReader(rb);
  t.after(() => reader.close());
  assert.equal(reader.read(), undefined, 'empty');
  const N = 500; // ~12 KiB of records through a 4 KiB ring: it wraps
  const got = [];
  const consumer = (async () => {
    for await (const rec of reader) {
      const v = new DataView(rec.buffer, rec.byteOffset, 16);
      assert.equal(v.getBigUint64(0, true), 0xfeedfacecafen);
      got.push(Number(v.getBigUint64(8, true)));
      if (got.length === N) break;
    }
  })();
  // Idle first: the reader waits in epoll, not in a loop. (The first 200 ms start the waiter thread.)
  await new Promise((r) => setTimeout(r, 200));
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 400));
  const idle = process.cpuUsage(cpu0);
  assert.ok(idle.user + idle.system < 40_000, `waiting used ${(idle.user + idle.system) / 1000} ms of CPU in 400 ms`);
  for (let i = 0; i < N; i++) {
    p.testRun({ ctx: new Uint8Array(8) });
    // 50 records fill 1.2 KiB of the 4 KiB ring: let the reader drain before the ring could overflow.
    if (i % 50 === 49) while (reader.pending > 0) await new Promise((r) => setTimeout(r, 1));
  }
  let timer;
  await Promise.race([
    consumer,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${got.length} of ${N} records arrived`)), 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.deepEqual(
    got,
    Array.from({ length: N }, (_, i) => i),
    'every record, in order',
  );
  assert.throws(
    () => rb.lookup(null),
    /a BPF_MAP_TYPE_RINGBUF map has no elements to look up, update or delete: read it with RingBufReader/,
  );
  assert.throws(() => rb.update(null, new Uint8Array(0)), /has no elements/);
});

test('user_ringbuf: records written from TypeScript are drained by a program, in order, until the ring is full', (t) => {
  const urb = tmpMap(t, { type: MapType.UserRingbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const seen = tmpMap(t, { type: MapType.Array, key: u32, value: u64, maxEntries: 2 });
  // drain(urb, cb): cb reads each record's u64 and keeps seen[0] = seen[0] * 10 + value (order matters), seen[1]++.
  const a = new Asm().ldMapFd(R1, urb).ldFunc(R2, 'cb').mov64(R3, 0).mov64(R4, 0).call('user_ringbuf_drain').exit();
  a.label('cb')
    .mov64(R6, R1)
    .mov64(R1, R10)
    .add64(R1, -8)
    .mov64(R2, 8)
    .mov64(R3, R6)
    .mov64(R4, 0)
    .mov64(R5, 0)
    .call('dynptr_read');
  a.jne(R0, 0, 'done').ldx('u64', R7, R10, -8);
  keyOnStack(a, seen, 0)
    .call('map_lookup_elem')
    .jeq(R0, 0, 'done')
    .ldx('u64', R1, R0, 0)
    .mul64(R1, 10)
    .add64(R1, R7)
    .st('u64', R0, 0, R1);
  keyOnStack(a, seen, 1).call('map_lookup_elem').jeq(R0, 0, 'done').mov64(R1, 1).atomic('add', 'u64', R0, 0, R1);
  a.label('done').mov64(R0, 0).exit();
  const p = closeAfter(t, loadProgram({ type: ProgType.SocketFilter, instructions: a }));
  const w = new UserRingBufWriter(urb);
  t.after(() => w.close());
  assert.equal(w.available, 4096);
  for (const x of [1n, 2n, 3n]) assert.equal(w.write(u64.encode(x)), true);
  assert.equal(w.available, 4096 - 3 * 16, 'each record takes its 8 bytes plus an 8-byte header');
  assert.equal(run(p), 3, 'the program drained three records');
  assert.equal(seen.lookupInt(0), 123n, 'in the order written');
  assert.equal(w.available, 4096);
  let n = 0;
  while (w.write(u64.encode(0n))) n++;
  assert.equal(n, 256, 'a 4 KiB ring holds 256 records of 8 bytes');
  assert.equal(w.write(u64.encode(0n)), false, 'full: nothing written');
  assert.equal(run(p), 256);
  assert.equal(seen.lookupInt(1), 259n);
  assert.throws(() => w.write(new Uint8Array(5000)), /a record must be 1 to 4088 bytes/);
  assert.throws(() => new UserRingBufWriter(seen), /needs a user_ringbuf map/);
});

test('the rest: reuseport_sockarray and user_ringbuf are created, arena is created and mapped; struct_ops says what it needs', (t) => {
  const rs = tmpMap(t, { type: MapType.ReuseportSockarray, keySize: 4, valueSize: 8, maxEntries: 2 });
  assert.equal(bpftool('map', 'show', 'id', rs.id).type, 'reuseport_sockarray');
  const ur = tmpMap(t, { type: MapType.UserRingbuf, keySize: 0, valueSize: 0, maxEntries: 4096 });
  assert.equal(ur.type, MapType.UserRingbuf);
  const arena = tmpMap(t, { type: MapType.Arena, keySize: 0, valueSize: 0, maxEntries: 4, flags: BPF_F_MMAPABLE });
  assert.equal(arena.type, MapType.Arena);
  const pages = arena.mmap();
  assert.ok(pages.length >= 4 * 4096 && pages.length % 4096 === 0, 'four pages');
  pages[0] = 7;
  pages[pages.length - 1] = 9; // the last page appears when touched
  assert.deepEqual([pages[0], pages[pages.length - 1]], [7, 9]);
  assert.throws(
    () => arena.mmap(),
    (e) => BpfError.is(e, 'EINVAL') && /an arena is mapped once/.test(e.message),
  );
  assert.throws(() => arena.lookup(null), /has no elements to look up, update or delete: use mmap/);
  assert.throws(
    () => BpfMap.create({ type: MapType.StructOps, keySize: 4, valueSize: 8, maxEntries: 1 }),
    (e) => BpfError.is(e, 'EINVAL') && /btf\.vmlinuxValueTypeId/.test(e.message),
  );
});

function cgroup2() {
  const line = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[2] === 'cgroup2');
  assert.ok(line, 'a cgroup2 mount');
  return line.split(' ')[1];
}
