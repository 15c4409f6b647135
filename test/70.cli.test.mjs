// The bpfmap command, run as a real process against maps made by bpftool and by the library, and
// compared with what bpftool says about the same maps.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MapType, defineStruct, u32, u64 } from 'bpfmap';
import { bpftool, ensureBpffs, fromHex, pinPath, tmpMap } from './helpers/kernel.mjs';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const PTY = fileURLToPath(new URL('./helpers/pty-run.py', import.meta.url));

function cli(...args) {
  const r = spawnSync(process.execPath, [BIN, ...args.map(String)], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const cliJson = (...args) => {
  const r = cli(...args, '--json');
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
};

const stats = defineStruct('stats', { packets: 'u64', drops: 'u32' });

test('list agrees with bpftool map list on ids, types, names, sizes and flags', (t) => {
  const a = tmpMap(t, { type: MapType.Hash, name: 'cli_list_a', keySize: 4, valueSize: 8, maxEntries: 16 });
  const b = tmpMap(t, { type: MapType.PercpuArray, name: 'cli_list_b', keySize: 4, valueSize: 12, maxEntries: 3 });
  const path = pinPath(t, 'cli_list');
  a.pin(path);
  const ours = new Map(cliJson('list').map((m) => [m.id, m]));
  const theirs = bpftool('map', 'list').filter((m) => m.id === a.id || m.id === b.id);
  assert.equal(theirs.length, 2);
  for (const m of theirs) {
    const o = ours.get(m.id);
    assert.ok(o, `map ${m.id} listed`);
    for (const f of ['type', 'name', 'flags', 'bytes_key', 'bytes_value', 'max_entries'])
      assert.equal(o[f], m[f], `${m.id}.${f}`);
    assert.ok(o.bytes_memlock > 0);
  }
  assert.deepEqual(ours.get(a.id).pinned, [path]);
  const human = cli('list');
  assert.equal(human.code, 0);
  assert.match(human.out, /^\s*ID\s+TYPE\s+NAME\s+KEY\s+VALUE\s+ENTRIES\s+FLAGS\s+MEMLOCK\s+PINNED/);
  assert.match(human.out, new RegExp(`${a.id}\\s+hash\\s+cli_list_a\\s+4\\s+8\\s+16`));
});

test('dump --json agrees with bpftool map dump, for a bpftool-made map, a per-CPU map and a BTF map', (t) => {
  ensureBpffs();
  const path = pinPath(t, 'cli_dump');
  execFileSync('bpftool', ['map', 'create', path, 'type', 'hash', 'key', '4', 'value', '8', 'entries', '8', 'name', 'cli_dump']);
  execFileSync('bpftool', [
    'map',
    'update',
    'pinned',
    path,
    'key',
    '1',
    '0',
    '0',
    '0',
    'value',
    '9',
    '0',
    '0',
    '0',
    '0',
    '0',
    '0',
    '0',
  ]);
  execFileSync('bpftool', [
    'map',
    'update',
    'pinned',
    path,
    'key',
    '2',
    '0',
    '0',
    '0',
    'value',
    '0xff',
    '0',
    '0',
    '0',
    '0',
    '0',
    '0',
    '1',
  ]);
  const byKey = (list) => [...list].sort((x, y) => fromHex(x.key)[0] - fromHex(y.key)[0]);
  assert.deepEqual(byKey(cliJson('dump', 'pinned', path)), byKey(bpftool('map', 'dump', 'pinned', path)));

  const pc = tmpMap(t, { type: MapType.PercpuHash, keySize: 4, valueSize: 8, maxEntries: 4 });
  pc.update(u32.encode(3), u64.encode(41n));
  assert.deepEqual(cliJson('dump', 'id', pc.id), bpftool('map', 'dump', 'id', pc.id));

  const typed = tmpMap(t, { type: MapType.Hash, key: u32, value: stats, maxEntries: 4 });
  typed.typed().set(5, { packets: 100n, drops: 2 });
  const [ours] = cliJson('dump', 'id', typed.id);
  const [theirs] = bpftool('map', 'dump', 'id', typed.id);
  assert.deepEqual(ours, theirs, 'raw bytes and the BTF-formatted fields agree');
  assert.deepEqual(ours.formatted, { key: 5, value: { packets: 100, drops: 2 } });
  const human = cli('dump', 'id', typed.id);
  assert.match(human.out, /KEY\s+VALUE\n\s*5\s+\{ packets: 100, drops: 2 \}\n1 entry/);
  const pcHuman = cli('dump', 'id', pc.id);
  assert.match(pcHuman.out, /KEY\s+CPU0\s+CPU1.*SUM/);
  assert.match(pcHuman.out, /82\s*$/m, 'the per-CPU sum (41 on each of 2 CPUs)');
});

test('update, lookup, delete, getnext: what the CLI writes bpftool reads, and back', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'cli_rw', keySize: 4, valueSize: 8, maxEntries: 4 });
  assert.equal(
    cli('update', 'id', m.id, 'key', '0x07', '0', '0', '0', 'value', 'hex', '2a', '00', '00', '00', '00', '00', '00', '00').code,
    0,
  );
  assert.deepEqual(fromHex(bpftool('map', 'lookup', 'id', m.id, 'key', '7', '0', '0', '0').value), u64.encode(42n));
  assert.equal(cli('update', 'name', 'cli_rw', '--key-int', 8, '--value-int', '0x10', 'noexist').code, 0);
  const dup = cli('update', 'id', m.id, '--key-int', 8, '--value-int', 1, 'noexist');
  assert.equal(dup.code, 1);
  assert.match(dup.err, /^bpfmap: BPF_MAP_UPDATE_ELEM: EEXIST/);
  assert.equal(m.lookupInt(8), 16n, 'the refused update changed nothing');
  const got = cliJson('lookup', 'id', m.id, '--key-int', 8);
  assert.deepEqual(fromHex(got.value), u64.encode(16n));
  const first = cliJson('getnext', 'id', m.id);
  const next = cliJson('getnext', 'id', m.id, 'key', ...first.next_key);
  assert.notDeepEqual(next.next_key, first.next_key);
  assert.equal(cli('getnext', 'id', m.id, 'key', ...next.next_key).code, 1, 'no key after the last');
  assert.equal(cli('delete', 'id', m.id, '--key-int', 7).code, 0);
  assert.equal(m.lookupInt(7), undefined);
  const missing = cli('delete', 'id', m.id, '--key-int', 7);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /key 07 00 00 00 not found/);
  // JSON keys and values through the map's BTF.
  const s = tmpMap(t, { type: MapType.Hash, key: u32, value: stats, maxEntries: 4 });
  assert.equal(cli('update', 'id', s.id, '--key', '3', '--value', '{"packets": 12, "drops": 1}').code, 0);
  assert.deepEqual(s.typed().get(3), { packets: 12n, drops: 1 });
  assert.deepEqual(cliJson('lookup', 'id', s.id, '--key', '3').formatted, { key: 3, value: { packets: 12, drops: 1 } });
});

test('queues, stacks and bloom filters: push, pop, peek', (t) => {
  const q = tmpMap(t, { type: MapType.Queue, keySize: 0, valueSize: 4, maxEntries: 4 });
  assert.equal(cli('push', 'id', q.id, '--value-int', 5).code, 0);
  assert.equal(cli('push', 'id', q.id, 'value', 6, 0, 0, 0).code, 0);
  assert.equal(cli('peek', 'id', q.id).out.trim(), '05 00 00 00');
  assert.deepEqual(fromHex(cliJson('pop', 'id', q.id).value), u32.encode(5));
  assert.equal(cli('pop', 'id', q.id).out.trim(), '06 00 00 00');
  const empty = cli('pop', 'id', q.id);
  assert.equal(empty.code, 1);
  assert.match(empty.err, /is empty/);
  const bloom = tmpMap(t, { type: MapType.BloomFilter, keySize: 0, valueSize: 4, maxEntries: 16 });
  assert.equal(cli('push', 'id', bloom.id, '--value-int', 77).code, 0);
  assert.deepEqual(cliJson('peek', 'id', bloom.id, 'value', 77, 0, 0, 0), { present: true });
});

test('create, pin and freeze', (t) => {
  const path = pinPath(t, 'cli_create');
  const made = cliJson('create', path, 'type', 'lru_hash', 'key', 8, 'value', 16, 'entries', 32, 'name', 'cli_made', 'flags', 0);
  const shown = bpftool('map', 'show', 'pinned', path);
  assert.equal(shown.id, made.id);
  assert.equal(shown.type, 'lru_hash');
  assert.equal(shown.name, 'cli_made');
  assert.deepEqual([shown.bytes_key, shown.bytes_value, shown.max_entries], [8, 16, 32]);
  const again = pinPath(t, 'cli_create2');
  assert.equal(cli('pin', 'pinned', path, again).code, 0);
  assert.equal(bpftool('map', 'show', 'pinned', again).id, made.id);
  assert.equal(cli('freeze', 'pinned', path).code, 0);
  const frozen = cli('update', 'pinned', path, '--key-int', 1, 'value', ...Array(16).fill(0));
  assert.equal(frozen.code, 1);
  assert.match(frozen.err, /EPERM.*frozen/);
  assert.equal(cliJson('show', 'pinned', path).frozen, 1);
});

test('mistakes: one line on stderr, exit 1 (or 2 for usage), nothing written', (t) => {
  const m = tmpMap(t, { type: MapType.Hash, name: 'cli_twin', keySize: 4, valueSize: 4, maxEntries: 2 });
  const twin = tmpMap(t, { type: MapType.Hash, name: 'cli_twin', keySize: 4, valueSize: 4, maxEntries: 2 });
  const cases = [
    [['dump', 'name', 'cli_twin'], 1, new RegExp(`the name "cli_twin" is ambiguous: maps ${m.id}, ${twin.id} have it; use id N`)],
    [['dump', 'name', 'no_such_map_x'], 1, /no map is named "no_such_map_x"/],
    [['dump', 'id', 4294967295], 1, /BPF_MAP_GET_FD_BY_ID: ENOENT/],
    [['dump', 'pinned', '/sys/fs/bpf/none/here'], 1, /BPF_OBJ_GET: ENOENT/],
    [['dump', 'idx', 3], 2, /expected a map reference \(id N, pinned PATH or name NAME\), got "idx"/],
    [['lookup', 'id', m.id], 2, /lookup: missing key/],
    [['lookup', 'id', m.id, 'key'], 2, /key needs bytes/],
    [['lookup', 'id', m.id, 'key', '0x1ff'], 2, /"0x1ff" is not a byte/],
    [['update', 'id', m.id, 'key', 1, 0, 0, 0, 'value', 1, 2], 1, /value is 2 bytes but this map's value_size is 4/],
    [['update', 'id', m.id, '--key-int', 1, '--value-int', 2 ** 32], 2, /--value-int 4294967296 is out of range for 4 bytes/],
    [['update', 'id', m.id, '--key-int', 1, '--value-int', 1, 'sometimes'], 2, /unknown flag "sometimes"/],
    [['update', 'id', m.id, '--key', '1', '--value-int', 1], 1, /--key takes JSON only for maps with BTF/],
    [['push', 'id', m.id, '--value-int', 1], 1, /push\(\) is for queue, stack and bloom filter maps/],
    [['create', '/sys/fs/bpf/x', 'type', 'hashish', 'key', 4, 'value', 4, 'entries', 1], 2, /unknown map type "hashish"/],
    [['frobnicate'], 2, /unknown verb "frobnicate"/],
    [['dump', 'id', m.id, '--colour'], 2, /unknown option --colour/],
  ];
  for (const [args, code, msg] of cases) {
    const r = cli(...args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg, args.join(' '));
    assert.match(r.err, /^bpfmap: /);
    assert.equal(r.out, '', 'nothing on stdout');
  }
  assert.deepEqual([...m.keys()], [], 'nothing was written');
});

test('--help for every verb, with examples; exit 0', () => {
  const top = cli('--help');
  assert.equal(top.code, 0);
  const verbs = [...top.out.matchAll(/^ {2}(\w+)\s{2,}/gm)].map((x) => x[1]);
  assert.ok(verbs.length >= 14, verbs.join(','));
  for (const v of verbs) {
    const r = cli(v, '--help');
    assert.equal(r.code, 0, v);
    assert.match(r.out, new RegExp(`^usage: bpfmap ${v}`));
    assert.match(r.out, /examples:\n {2}bpfmap /);
  }
});

test('watch draws the entries with rates and sparklines in a terminal, and q restores it', async (t) => {
  const m = tmpMap(t, { type: MapType.PercpuHash, key: u32, value: stats, maxEntries: 4 });
  const tm = m.typedPerCpu();
  tm.set(1, { packets: 0n, drops: 0 });
  tm.set(2, { packets: 0n, drops: 0 });
  const child = spawn('python3', [PTY, '2.6', process.execPath, BIN, 'watch', 'id', String(m.id), '--interval', '0.4'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let text = '';
  child.stdout.on('data', (d) => {
    text += d;
  });
  let done = false;
  const closed = new Promise((resolve) => child.on('close', resolve)).then(() => {
    done = true;
  });
  // Key 1 grows by 1000 packets per 100 ms on each CPU, until the watch ends; key 2 stays.
  for (let i = 1; !done; i++) {
    tm.set(1, { packets: BigInt(i * 1000), drops: i });
    await new Promise((r) => setTimeout(r, 100));
  }
  await closed;
  const { output, exit } = JSON.parse(text);
  assert.equal(exit, 0);
  assert.ok(output.startsWith('\x1b[?1049h'), 'switched to the alternate screen');
  assert.ok(output.endsWith('\x1b[?25h\x1b[?1049l'), 'restored the cursor and the screen on q');
  const frames = output.split('\x1b[H\x1b[2J').slice(1);
  assert.ok(frames.length >= 4, `${frames.length} frames`);
  const last = frames.at(-1);
  assert.match(last, /bpfmap watch: map \d+ percpu_hash .*2 entries.*sorted by packets/);
  const [row1] = last.split('\r\n').filter((l) => /^\s*1\s/.test(l));
  const [row2] = last.split('\r\n').filter((l) => /^\s*2\s/.test(l));
  assert.ok(last.indexOf(row1) < last.indexOf(row2), 'the busy entry sorts first');
  const rate = /(\d+(?:\.\d)?)k\/s/.exec(row1);
  assert.ok(rate, row1);
  assert.ok(Number(rate[1]) > 8 && Number(rate[1]) < 40, `about 20k packets/s summed over CPUs: ${row1}`);
  assert.match(row1, /[▁▂▃▄▅▆▇█]{3,}/);
  assert.match(row2, /0\/s\s+▁+/);
});
