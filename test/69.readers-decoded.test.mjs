// Readers that decode: a program sends a 28-byte prefix of a 96-byte struct event to a ring buffer
// (as bcc's tools send variable-length records) and the whole struct to a perf event array;
// `decoded(codec, { partial: true })` yields the fields wholly present, `decoded(codec)` refuses a
// short record and decodes whole ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfMap, PerfEventReader, RingBufReader, array, cstring, defineStruct } from 'bpfmap';
import { loadEvents } from './helpers/events.mjs';

// The C struct of test/fixtures/events.bpf.c, written as a codec.
const event = defineStruct('event', { pid: 'u32', comm: cstring(16), ts: 'u64', args: array('u8', 64) });

function events(t) {
  const e = loadEvents(t, 'decoded');
  const rb = BpfMap.openPinned(e.rb);
  const pe = BpfMap.openPinned(e.pe);
  t.after(() => {
    rb.close();
    pe.close();
  });
  return { rb, pe, send: () => e.send() };
}

test('ring buffer: decoded(codec, { partial: true }) gives the fields wholly inside a short record', async (t) => {
  const e = events(t);
  const reader = new RingBufReader(e.rb);
  t.after(() => reader.close());
  e.send();
  e.send();
  const got = [];
  for await (const rec of reader.decoded(event, { partial: true })) {
    got.push(rec);
    if (got.length === 2) break;
  }
  // 28 bytes: pid (0..3) and comm (4..19) are whole; ts (24..31) is cut, so it and args are left out.
  assert.deepEqual(got, [
    { pid: 4242, comm: 'bsh' },
    { pid: 4242, comm: 'bsh' },
  ]);
  e.send();
  const strict = reader.decoded(event);
  await assert.rejects(strict.next(), (err) => err instanceof RangeError && /event/.test(err.message));
});

test('perf event array: decoded(codec) gives whole values with their CPU', async (t) => {
  const e = events(t);
  const reader = new PerfEventReader(e.pe);
  t.after(() => reader.close());
  e.send();
  for await (const rec of reader.decoded(event)) {
    assert.equal(typeof rec.cpu, 'number');
    assert.equal(rec.lost, undefined);
    assert.equal(rec.value.pid, 4242);
    assert.equal(rec.value.comm, 'bsh');
    assert.equal(rec.value.ts, 77n);
    assert.equal(rec.value.args[0], 9);
    assert.equal(rec.value.args.length, 64);
    break;
  }
});
