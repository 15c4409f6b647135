// The fake readers against the real ones: what a BPF program (test/fixtures/events.bpf.c, run
// with BPF_PROG_TEST_RUN) sends through a real ring buffer and perf event array, pushed into
// FakeRingBufReader and FakePerfEventReader, reads back the same: the same bytes (perf samples
// padded as the kernel pads them), the same `pending` accounting, the same drops when full, the
// same decoded records; iteration ends on close, and a closed reader throws EBADF.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfError, BpfMap, PerfEventReader, RingBufReader, array, cstring, defineStruct } from 'bpfmap';
import { FakePerfEventReader, FakeRingBufReader } from 'bpfmap/testing';
import { loadEvents } from './helpers/events.mjs';

const event = defineStruct('event', { pid: 'u32', comm: cstring(16), ts: 'u64', args: array('u8', 64) });
const hex = (b) => Buffer.from(b).toString('hex');

test('ring buffer: the fake frames, counts, drops and decodes what the kernel does', async (t) => {
  const e = loadEvents(t, 'fake_rb');
  const map = BpfMap.openPinned(e.rb);
  const real = new RingBufReader(map);
  t.after(() => {
    real.close();
    map.close();
  });
  e.send();
  const first = real.read();
  assert.equal(first.length, 28);
  const fake = new FakeRingBufReader({ size: map.maxEntries });
  // Fill both until the kernel drops: 4096 bytes hold 4096 / (8 + 32) records of 28 bytes.
  const pendings = [];
  for (let i = 0; i < 120; i++) {
    e.send();
    const pushed = fake.push(first);
    pendings.push([real.pending, fake.pending, pushed]);
  }
  for (const [r, f] of pendings) assert.equal(f, r, 'pending bytes, header and padding included');
  const kept = Math.floor(4096 / 40);
  assert.equal(pendings.filter(([, , p]) => p).length, kept, 'the fake drops what the kernel drops');
  const drain = (reader) => {
    const out = [];
    for (let r = reader.read(); r !== undefined; r = reader.read()) out.push(hex(r));
    return out;
  };
  const got = drain(real);
  assert.equal(got.length, kept);
  assert.deepEqual(drain(fake), got);
  assert.equal(fake.pending, 0);

  // decoded(partial) as the real reader does it; iteration ends on close.
  fake.push(first);
  fake.push(first);
  const recs = [];
  for await (const rec of fake.decoded(event, { partial: true })) {
    recs.push(rec);
    if (recs.length === 2) setImmediate(() => fake.close());
  }
  assert.deepEqual(recs, [
    { pid: 4242, comm: 'bsh' },
    { pid: 4242, comm: 'bsh' },
  ]);
  assert.throws(
    () => fake.read(),
    (err) => BpfError.is(err, 'EBADF'),
  );
});

test('perf event array: the fake pads samples as the kernel does and takes CPUs in turn', async (t) => {
  const e = loadEvents(t, 'fake_pe');
  const map = BpfMap.openPinned(e.pe);
  const real = new PerfEventReader(map);
  t.after(() => {
    real.close();
    map.close();
  });
  e.send();
  let sample;
  for (let i = 0; i < 100 && sample === undefined; i++) sample = real.read();
  assert.ok(sample, 'the program sent a sample');
  const fake = new FakePerfEventReader({ cpus: 2 });
  fake.push(event.encode(event.decode(sample.data)), { cpu: 1 });
  const got = fake.read();
  assert.equal(got.cpu, 1);
  assert.equal(got.data.length, sample.data.length, 'padded to end on an 8-byte word, counting the u32 size');
  assert.equal(hex(got.data), hex(sample.data));
  assert.equal(fake.read(), undefined);

  // A full ring drops samples and then reports them in a lost record, before the next sample.
  const small = new FakePerfEventReader({ cpus: 1, pages: 1 });
  let sent = 0;
  while (small.push(new Uint8Array(100))) sent++;
  assert.equal(sent, Math.floor(4096 / (8 + 104)));
  assert.equal(small.push(new Uint8Array(100)), false);
  for (let i = 0; i < sent; i++) assert.equal(small.read().data.length, 100);
  assert.equal(small.push(new Uint8Array(1)), true);
  assert.deepEqual(small.read(), { cpu: 0, lost: 2 });
  assert.equal(small.read().data.length, 4);

  // decoded() passes lost counts through; several CPUs are read in turn.
  fake.push(event.encode(event.make({ pid: 1 })), { cpu: 0 });
  fake.push(event.encode(event.make({ pid: 2 })), { cpu: 0 });
  fake.push(event.encode(event.make({ pid: 3 })), { cpu: 1 });
  fake.pushLost(5, { cpu: 1 });
  const seen = [];
  for await (const r of fake.decoded(event)) {
    seen.push(r.lost === undefined ? [r.cpu, r.value.pid] : [r.cpu, 'lost', r.lost]);
    if (seen.length === 4) fake.close();
  }
  assert.deepEqual(seen, [
    [0, 1],
    [1, 3],
    [0, 2],
    [1, 'lost', 5],
  ]);
});
