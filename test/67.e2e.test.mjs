// End to end (issue 17): a real-world-shaped tracer (test/fixtures/e2e/syscount.bpf.c: a
// struct-keyed hash, a log2 histogram array, a ring buffer of events, a `.rodata` target pid, on the
// syscalls/sys_enter_getppid tracepoint, plus an XDP program) loaded with loadObject, attached with
// obj.attach(), triggered by a real child process, read through typed maps and RingBufReader while
// it runs, then closed: the link disappears from bpftool and the counts stop.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { BpfMap, RingBufReader, cstring, defineStruct, loadObject, u32, u64 } from 'bpfmap';
import { buildBpf, buildProgram } from './fixtures/e2e/build.mjs';
import { bpftool } from './helpers/kernel.mjs';

const key = defineStruct('key', { pid: 'u32', comm: cstring(16) });
const event = defineStruct('event', { pid: 'u32', tid: 'u32', ts: 'u64', seq: 'u64', comm: cstring(16) });
const COMM = 'getppid_loop';

/** Starts the syscall-making child; `run(n)` makes it call getppid n times and resolves when it has. */
function startChild(t, path) {
  const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    pid: child.pid,
    async run(n) {
      child.stdin.write(`${n}\n`);
      const { value } = await lines.next();
      assert.equal(value, `done ${n}`);
    },
    async end() {
      child.stdin.end();
      await once(child, 'exit');
    },
  };
}

function linkIds() {
  return (bpftool('link', 'show') ?? []).map((l) => l.id);
}

test('tracer: loadObject with target_pid, obj.attach(), typed counts, histogram and ring buffer events, close detaches', async (t) => {
  const child = startChild(t, buildProgram(COMM));
  const obj = loadObject(buildBpf('syscount'), { variables: { target_pid: child.pid } });
  t.after(() => obj.close());
  assert.equal(obj.variables.target_pid.get(), child.pid);

  // attach() attaches the tracepoint program only: the XDP one needs an interface.
  const links = obj.attach();
  assert.equal(links.length, 1);
  const [link] = links;
  assert.equal(link.info().progId, obj.programs.on_getppid.id);
  assert.ok(linkIds().includes(link.id), 'bpftool shows the link');
  assert.ok(!(bpftool('link', 'show') ?? []).some((l) => l.prog_id === obj.programs.pass_all.id), 'xdp not attached');

  const reader = new RingBufReader(obj.maps.events);
  t.after(() => reader.close());
  const got = [];
  const collecting = (async () => {
    for await (const e of reader.decoded(event)) {
      got.push(e);
      if (got.length === 30) break;
    }
  })();

  // While the program runs: three rounds, counts read between them.
  const counts = obj.maps.counts.typed(key, u64);
  const me = { pid: child.pid, comm: COMM };
  await child.run(10);
  assert.equal(counts.get(me), 10n);
  await child.run(5);
  await child.run(15);
  assert.deepEqual([...counts.entries()], [[me, 30n]]);
  await collecting;
  assert.deepEqual(
    got.map((e) => [e.pid, e.tid, e.seq, e.comm]),
    Array.from({ length: 30 }, (_, i) => [child.pid, child.pid, BigInt(i), COMM]),
  );
  for (let i = 1; i < got.length; i++) assert.ok(got[i].ts > got[i - 1].ts, 'events in time order');

  // The histogram holds one gap per call after the first, in the slots of the gaps the events show.
  const hist = obj.maps.hist.typed(u32, u64);
  const slots = new Map([...hist.entries()].filter(([, n]) => n > 0n));
  assert.equal(
    [...slots.values()].reduce((a, b) => a + b, 0n),
    29n,
  );
  const expected = new Map();
  for (let i = 1; i < got.length; i++) {
    const slot = Math.min(31, (got[i].ts - got[i - 1].ts).toString(2).length - 1);
    expected.set(slot, (expected.get(slot) ?? 0n) + 1n);
  }
  assert.deepEqual(slots, expected);

  // Another process's getppid() calls are not counted (the .rodata filter).
  const other = startChild(t, buildProgram(COMM));
  await other.run(7);
  await other.end();
  assert.deepEqual([...counts.keys()], [me]);

  // Close: the link goes, and the counts (read through a handle of our own) stop.
  const keep = BpfMap.fromId(obj.maps.counts.id);
  t.after(() => keep.close());
  obj.close();
  assert.equal(link.closed, true);
  assert.ok(!linkIds().includes(link.id), 'bpftool no longer shows the link');
  await child.run(20);
  assert.equal(keep.typed(key, u64).get(me), 30n);
  await child.end();
});
