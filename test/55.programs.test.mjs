// The instruction builder, the program loader and test runs; then maps shared between a program
// running in the kernel and TypeScript: element ops with each flag, queue/stack, per-CPU slots,
// and a bpf_spin_lock-protected value under concurrent BPF_F_LOCK access.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  Asm,
  AsmError,
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_NOEXIST,
  BpfError,
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
  bpfSpinLock,
  defineStruct,
  loadProgram,
  possibleCpus,
  u32,
  u64,
} from 'bpfmap';
import { bpftool, tmpMap } from './helpers/kernel.mjs';

const hex = (b) => Buffer.from(b).toString('hex');

test('Asm encodes instructions as the kernel defines them', () => {
  // mov64 r0, 42 ; exit — byte for byte as in include/uapi/linux/bpf.h (code, regs, off, imm).
  assert.equal(hex(new Asm().mov64(R0, 42).exit().build()), 'b70000002a000000' + '9500000000000000');
  assert.equal(hex(new Asm().add64(R1, R2).build()), '0f21000000000000');
  assert.equal(hex(new Asm().alu('sub', 32, R3, -1).build()), '14030000ffffffff');
  assert.equal(hex(new Asm().ldx('u16', R1, R6, -8).build()), '6961f8ff00000000');
  assert.equal(hex(new Asm().st('u8', R10, -1, 7).build()), '720affff07000000');
  assert.equal(hex(new Asm().st('u64', R10, -16, R1).build()), '7b1af0ff00000000');
  assert.equal(hex(new Asm().atomic('add', 'u64', R0, 0, R1, { fetch: true }).build()), 'db10000001000000');
  assert.equal(hex(new Asm().ld64(R2, 0x1122334455667788n).build()), '1802000088776655' + '0000000044332211');
  assert.equal(hex(new Asm().endian('be', R1, 16).build()), 'dc01000010000000');
  assert.equal(hex(new Asm().call('map_lookup_elem').build()), '8500000001000000');
  assert.equal(hex(new Asm().call('bpf_ktime_get_ns').build()), '8500000005000000');
  // Labels resolve to offsets relative to the next instruction, backwards and forwards.
  const jumps = new Asm().label('top').jeq(R1, 0, 'end').jmp('jgt', R1, R2, 'top', 32).label('end').exit().build();
  assert.equal(hex(jumps.subarray(0, 8)), '1501010000000000');
  assert.equal(hex(jumps.subarray(8, 16)), '2e21feff00000000');
});

test('Asm refuses what it cannot encode, naming the instruction', () => {
  assert.throws(() => new Asm().call('map_lookup'), /insn 0: unknown helper "map_lookup" \(did you mean map_lookup_elem/);
  assert.throws(() => new Asm().mov64(R0, 0).ja('nowhere').build(), /insn 1: jump to undefined label "nowhere"/);
  assert.throws(() => new Asm().ja(5).exit().build(), /insn 0: jump lands at 6, outside the program \(0…1\)/);
  assert.throws(() => new Asm().mov64({ reg: 11 }, 0), /dst register r11 does not exist/);
  assert.throws(() => new Asm().mov64(1, 0), /dst must be a register/);
  assert.throws(() => new Asm().mov64(R0, 2 ** 33), /immediate must be a 32-bit integer/);
  assert.throws(() => new Asm().ldx('u16', R0, R1, 40000), /offset must be a 16-bit signed integer/);
  assert.throws(() => new Asm().label('a').label('a'), /label "a" is defined twice/);
  assert.throws(() => new Asm().build(), /the program is empty/);
  const far = new Asm().ja('end');
  for (let i = 0; i < 40000; i++) far.mov64(R0, 0);
  far.label('end').exit();
  assert.throws(() => far.build(), /jump to "end" is out of range \(40000\)/);
  assert.ok(new Asm().mov64(R0, 0).exit() instanceof Asm);
  assert.ok(AsmError.prototype instanceof RangeError);
});

test('loadProgram: a program fd that closes like a map fd; the verifier log on refusal', () => {
  const p = loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().mov64(R0, 7).exit(), name: 'seven' });
  assert.equal(p.name, 'seven');
  assert.equal(p.type, ProgType.SocketFilter);
  assert.match(readlinkSync(`/proc/self/fd/${p.fd}`), /anon_inode:bpf-prog/);
  const shown = bpftool('prog', 'show', 'id', p.id);
  assert.equal(shown.name, 'seven');
  assert.equal(shown.tag, p.tag);
  assert.equal(p.testRun({ data: new Uint8Array(64) }).retval, 7);
  const again = BpfProgram.fromId(p.id);
  assert.equal(again.testRun({ data: new Uint8Array(14) }).retval, 7);
  again.close();
  p.close();
  p.close();
  assert.throws(
    () => p.testRun(),
    (e) => BpfError.is(e, 'EBADF') && /program is closed/.test(e.message),
  );
  // R0 never written: the verifier says so, and the error carries its words.
  assert.throws(
    () => loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().exit() }),
    (e) => BpfError.is(e, 'EACCES') && /R0 !read_ok/.test(e.log) && e.message.includes('R0 !read_ok'),
  );
  assert.throws(() => loadProgram({ type: ProgType.SocketFilter, instructions: new Uint8Array(7) }), /multiple of 8 bytes/);
  assert.throws(() => loadProgram({ type: 0, instructions: new Asm().exit() }), /type must be a program type/);
  assert.throws(
    () => loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().mov64(R0, 0).exit(), name: 'bad name' }),
    /program name "bad name" has " "/,
  );
  assert.throws(
    () => BpfProgram.fromId(0xfffffff0),
    (e) => BpfError.is(e, 'ENOENT'),
  );
});

test('subprograms: bpf-to-bpf calls and callbacks (bpf_loop), described to the kernel in BTF', () => {
  // main: r6 = double(21); r0 = loop(5, count, &counter on stack, 0) + r6 + counter
  const a = new Asm().mov64(R1, 21).callLocal('double').mov64(R6, R0);
  a.st('u64', R10, -8, 0).mov64(R1, 5).ldFunc(R2, 'count').mov64(R3, R10).add64(R3, -8).mov64(R4, 0).call('loop');
  a.add64(R0, R6).ldx('u64', R1, R10, -8).add64(R0, R1).exit();
  a.label('double').mov64(R0, R1).add64(R0, R1).exit();
  // count(index, ctx): *ctx += 100; continue
  a.label('count').ldx('u64', R3, R2, 0).add64(R3, 100).st('u64', R2, 0, R3).mov64(R0, 0).exit();
  assert.deepEqual(a.functions(), [
    { name: 'main', insnOff: 0 },
    { name: 'double', insnOff: 15 },
    { name: 'count', insnOff: 18 },
  ]);
  const p = loadProgram({ type: ProgType.SocketFilter, instructions: a });
  assert.equal(p.testRun({ data: new Uint8Array(64) }).retval, 42 + 5 + 500, 'double(21) + 5 iterations + 5 × 100');
  p.close();
  assert.throws(() => new Asm().callLocal('nowhere').exit().build(), /insn 0: call to undefined label "nowhere"/);
});

test('testRun: data in and out, repeat and the kernel-measured duration; refusals explained', () => {
  // Returns the packet's length (skb->len is at offset 0 of __sk_buff).
  const p = loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().ldx('u32', R0, R1, 0).exit() });
  const data = Uint8Array.from({ length: 60 }, (_, i) => i);
  const r = p.testRun({ data, repeat: 1000 });
  assert.equal(r.retval, 60 - 14, 'skb->len: the test run strips the 14-byte Ethernet header');
  assert.ok(r.duration >= 0);
  assert.equal(r.data.length, 60);
  // The packet comes back as the program left it: from the EtherType on (the test run rebuilds the Ethernet header).
  assert.deepEqual(r.data.subarray(14), data.subarray(14));
  assert.throws(
    () => p.testRun({ data: new Uint8Array(4) }),
    (e) => BpfError.is(e, 'EINVAL') && /at least 14 bytes/.test(e.message),
  );
  assert.throws(() => p.testRun({ data: 'packet' }), /data must be a Uint8Array/);
  p.close();
});

/** Stores a u32 key on the stack at fp-4 and points r2 at it; r1 = map. */
const keyOnStack = (a, map, key) => a.st('u32', R10, -4, key).ldMapFd(R1, map).mov64(R2, R10).add64(R2, -4);

test('a program and TypeScript share a hash map: update with each flag, lookup, delete', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: u64, maxEntries: 8 });
  // update(key 1, value at fp-16, flags) and return the helper's result.
  const updater = (flags, value) => {
    const a = new Asm().st('u64', R10, -16, value);
    keyOnStack(a, m, 1).mov64(R3, R10).add64(R3, -16).mov64(R4, flags).call('map_update_elem').exit();
    return loadProgram({ type: ProgType.SocketFilter, instructions: a });
  };
  const run = (p) => p.testRun({ data: new Uint8Array(64) }).retval | 0;
  const noexist = updater(BPF_NOEXIST, 5);
  const exist = updater(BPF_EXIST, 6);
  const any = updater(BPF_ANY, 7);
  assert.equal(run(exist), -2, 'BPF_EXIST on a missing key: -ENOENT in the program');
  assert.equal(run(noexist), 0);
  assert.equal(m.lookupInt(1), 5n, 'TypeScript sees what the program wrote');
  assert.equal(run(noexist), -17, 'BPF_NOEXIST on a present key: -EEXIST');
  assert.equal(run(exist), 0);
  assert.equal(m.lookupInt(1), 6n);
  assert.equal(run(any), 0);
  assert.equal(m.lookupInt(1), 7n);
  // The program reads what TypeScript wrote: lookup key 2, return the value (or -1 when absent).
  const reader = new Asm();
  keyOnStack(reader, m, 2).call('map_lookup_elem').jne(R0, 0, 'found').mov64(R0, -1).exit();
  reader.label('found').ldx('u64', R0, R0, 0).exit();
  const read = loadProgram({ type: ProgType.SocketFilter, instructions: reader });
  assert.equal(run(read), -1);
  m.updateInt(2, 4242);
  assert.equal(run(read), 4242);
  // Delete from the program; TypeScript sees it gone.
  const deleter = new Asm();
  keyOnStack(deleter, m, 2).call('map_delete_elem').exit();
  const del = loadProgram({ type: ProgType.SocketFilter, instructions: deleter });
  assert.equal(run(del), 0);
  assert.equal(m.lookupInt(2), undefined);
  assert.equal(run(del), -2, 'deleting a missing key: -ENOENT');
  for (const p of [noexist, exist, any, read, del]) p.close();
});

test('queue and stack: the program pushes, TypeScript pops, and the other way round', (t) => {
  for (const type of [MapType.Queue, MapType.Stack]) {
    const q = tmpMap(t, { type, keySize: 0, value: u64, maxEntries: 4 });
    const push = (v) => {
      const a = new Asm().st('u64', R10, -8, v).ldMapFd(R1, q).mov64(R2, R10).add64(R2, -8).mov64(R3, BPF_ANY);
      return loadProgram({ type: ProgType.SocketFilter, instructions: a.call('map_push_elem').exit() });
    };
    const takeWith = (helper) => {
      const a = new Asm().ldMapFd(R1, q).mov64(R2, R10).add64(R2, -8).call(helper).jeq(R0, 0, 'ok').exit();
      return loadProgram({ type: ProgType.SocketFilter, instructions: a.label('ok').ldx('u64', R0, R10, -8).exit() });
    };
    const run = (p) => p.testRun({ data: new Uint8Array(64) }).retval | 0;
    const [p1, p2, pop, peek] = [push(1), push(2), takeWith('map_pop_elem'), takeWith('map_peek_elem')];
    assert.equal(run(p1), 0);
    assert.equal(run(p2), 0);
    const first = type === MapType.Queue ? 1n : 2n;
    assert.equal(u64.decode(q.peek()), first, 'TypeScript peeks what the program pushed');
    assert.equal(u64.decode(q.pop()), first);
    q.push(u64.encode(30n));
    const next = type === MapType.Queue ? 2 : 30;
    assert.equal(run(peek), next, 'the program peeks what is at the head');
    assert.equal(run(pop), next);
    assert.equal(run(pop), type === MapType.Queue ? 30 : 1);
    assert.equal(run(pop), -2, 'empty: -ENOENT');
    assert.equal(q.pop(), undefined);
    for (const p of [p1, p2, pop, peek]) p.close();
  }
});

test('per-CPU array: a program run on each chosen CPU increments that CPU slot only', (t) => {
  const n = possibleCpus();
  const m = tmpMap(t, { type: MapType.PercpuArray, key: u32, value: u64, maxEntries: 1 });
  const a = new Asm();
  keyOnStack(a, m, 0).call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R1, 1).atomic('add', 'u64', R0, 0, R1);
  const p = loadProgram({ type: ProgType.RawTracepoint, instructions: a.label('out').mov64(R0, 0).exit() });
  const expected = Array.from({ length: n }, () => 0n);
  for (let cpu = 0; cpu < n; cpu++) {
    for (let i = 0; i <= cpu + 2; i++) {
      p.testRun({ ctx: new Uint8Array(8), cpu });
      expected[cpu] += 1n;
    }
  }
  assert.deepEqual(m.typedPerCpu().get(0), expected);
  assert.throws(
    () => p.testRun({ ctx: new Uint8Array(8), cpu: 4096 }),
    (e) => BpfError.is(e) && ['ENXIO', 'EINVAL'].includes(e.code),
    'a CPU that does not exist is refused',
  );
  p.close();
});

const locked = defineStruct('locked', { lock: bpfSpinLock, a: 'u64', b: 'u64' });

test('bpf_spin_lock: a program increments under the lock while TypeScript reads and writes with BPF_F_LOCK', async (t) => {
  const m = tmpMap(t, { type: MapType.Hash, key: u32, value: locked, maxEntries: 2 });
  m.updateStructInt(0, { a: 0n, b: 0n }, locked);
  m.updateStructInt(1, { a: 0n, b: 0n }, locked);
  const a = new Asm();
  keyOnStack(a, m, 0).call('map_lookup_elem').jeq(R0, 0, 'out').mov64(R6, R0);
  a.mov64(R1, R6).call('spin_lock');
  a.ldx('u64', R1, R6, 8).add64(R1, 1).st('u64', R6, 8, R1);
  a.ldx('u64', R1, R6, 16).add64(R1, 1).st('u64', R6, 16, R1);
  a.mov64(R1, R6).call('spin_unlock');
  a.label('out').mov64(R0, 0).exit();
  const p = loadProgram({ type: ProgType.SchedCls, instructions: a, name: 'locked_inc' }); // socket filters may not take spin locks
  t.after(() => p.close());
  // Two workers run the program at once (one per CPU here): without the lock, their read-add-write
  // sequences would lose increments; with it, the count is exact.
  let finished;
  const runs = [];
  const done = Promise.all(
    [0, 1].map(
      () =>
        new Promise((resolve, reject) => {
          const w = new Worker(new URL('./helpers/spin-worker.mjs', import.meta.url), {
            workerData: { id: p.id, rounds: 20, repeat: 50_000 },
          });
          w.once('message', (msg) => {
            runs.push(msg.runs);
            resolve();
          });
          w.once('error', reject);
        }),
    ),
  ).then(() => {
    finished = { runs: runs.reduce((x, y) => x + y, 0) };
  });
  let reads = 0;
  let writes = 0;
  const midway = new Set(); // counts seen while the program was still running
  while (finished === undefined) {
    const v = m.lookupStructInt(0, locked, { flags: BPF_F_LOCK });
    assert.equal(v.a, v.b, `no torn value: a=${v.a} b=${v.b}`);
    midway.add(v.a);
    reads++;
    writes++;
    m.updateStructInt(1, { a: BigInt(writes), b: BigInt(writes) }, locked, { flags: BPF_F_LOCK });
    const w = m.lookupStructInt(1, locked, { flags: BPF_F_LOCK });
    assert.equal(w.a, w.b);
    await new Promise(setImmediate);
  }
  await done;
  const final = m.lookupStructInt(0, locked, { flags: BPF_F_LOCK });
  assert.equal(final.a, BigInt(finished.runs), 'the final count is exact: every increment happened under the lock');
  assert.equal(final.b, BigInt(finished.runs));
  assert.deepEqual(m.lookupStructInt(1, locked), { a: BigInt(writes), b: BigInt(writes) });
  const between = [...midway].filter((x) => x > 0n && x < final.a);
  assert.ok(between.length > 0, `TypeScript read while the program ran (${reads} reads, ${between.length} mid-run values)`);
});
