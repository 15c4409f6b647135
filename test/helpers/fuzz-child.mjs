// Fuzzes the library's public surface and the CLI with random and hostile inputs (run by
// test/82.fuzz.test.mjs, also under an AddressSanitizer build of the addon). Every call must return
// or throw an Error; inputs known to be wrong must throw; the process must not crash or hang.
// Prints one JSON line of figures.
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import fc from 'fast-check';
import * as lib from 'bpfmap';

const { BpfMap, MapType, BpfError, u32, u64, defineStruct } = lib;
const { main } = await import(new URL('../../dist/cli/main.js', import.meta.url).href);
const CALLS = Number(process.argv[2] ?? 20000);
const CLI_RUNS = Number(process.argv[3] ?? 2000);
const seed = Number(process.argv[4] ?? Date.now() % 2 ** 31);

/** Open fds that are BPF objects (maps, programs, BTF): what the library opens and must close. */
const fdCount = () =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return /^anon_inode:(bpf-|btf)/.test(readlinkSync(`/proc/self/fd/${f}`));
    } catch {
      return false;
    }
  }).length;
const fdsAtStart = fdCount();
const pair = defineStruct('pair', { a: 'u32', b: 'i64' });
const maps = {
  hash: BpfMap.create({ type: MapType.Hash, name: 'fz_hash', keySize: 4, valueSize: 8, maxEntries: 64 }),
  percpu: BpfMap.create({ type: MapType.PercpuHash, name: 'fz_pc', keySize: 4, valueSize: 8, maxEntries: 16 }),
  array: BpfMap.create({ type: MapType.Array, name: 'fz_arr', keySize: 4, valueSize: 8, maxEntries: 8 }),
  queue: BpfMap.create({ type: MapType.Queue, name: 'fz_q', keySize: 0, valueSize: 8, maxEntries: 8 }),
  struct: BpfMap.create({ type: MapType.Hash, name: 'fz_struct', key: u32, value: pair, maxEntries: 8 }),
  lpm: BpfMap.create({ type: MapType.LpmTrie, name: 'fz_lpm', keySize: 8, valueSize: 4, maxEntries: 8, flags: 1 }),
};
const closed = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1 });
const closedFd = closed.fd;
closed.close();
const fileFd = openSync('/proc/self/status', 'r');
// Fds of other kinds: a BTF object and a program (bpf objects that are not maps), a directory.
const btf = lib.Btf.load(lib.mapTypeBtf(u32, u64, 4, 8).blob);
const prog = lib.loadProgram({ type: lib.ProgType.SocketFilter, instructions: new lib.Asm().mov64(lib.R0, 0).exit() });
const dirFd = openSync('/', 'r');
const otherFds = [btf.fd, prog.fd, dirFd];
const ownFds = new Set(Object.values(maps).map((m) => m.fd));

const bytes = fc.uint8Array({ minLength: 0, maxLength: 24 }).map((b) => new Uint8Array(b));
const edgeInt = fc.constantFrom(
  -1,
  0,
  1,
  3,
  4,
  7,
  8,
  255,
  256,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  1.5,
  -0,
);
const edgeBig = fc.constantFrom(-1n, 0n, 1n, 2n ** 32n, 2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 63n));
const arg = fc.oneof(
  { weight: 4, arbitrary: bytes },
  { weight: 3, arbitrary: edgeInt },
  { weight: 1, arbitrary: edgeBig },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, {}, [], true, Symbol.iterator) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      closed,
      maps.hash,
      maps.queue,
      new Uint16Array(2),
      new DataView(new ArrayBuffer(4)),
      Buffer.alloc(4),
    ),
  },
  { weight: 1, arbitrary: fc.array(bytes, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'flags', 'out', 'batchSize', 'type', 'keySize'), edgeInt) },
);
const args = fc.array(arg, { minLength: 0, maxLength: 4 });
const mapName = fc.constantFrom(...Object.keys(maps));
const safeFd = fc.constantFrom(-1, 2 ** 31, closedFd, fileFd, ...otherFds, 999999);

/** [name, call(args)] — each a public entry point. */
const CALLS_TABLE = [
  ['lookup', (m, a) => m.lookup(...a)],
  ['update', (m, a) => m.update(...a)],
  ['delete', (m, a) => m.delete(...a)],
  ['getNextKey', (m, a) => m.getNextKey(...a)],
  ['lookupAndDelete', (m, a) => m.lookupAndDelete(...a)],
  ['push', (m, a) => m.push(...a)],
  ['pop', (m) => m.pop()],
  ['peek', (m, a) => m.peek(...a)],
  ['lookupInt', (m, a) => m.lookupInt(...a)],
  ['updateInt', (m, a) => m.updateInt(...a)],
  ['deleteInt', (m, a) => m.deleteInt(...a)],
  ['getNextKeyInt', (m, a) => m.getNextKeyInt(...a)],
  ['lookupStruct', (m, a) => m.lookupStruct(a[0], pair, a[1])],
  ['updateStruct', (m, a) => m.updateStruct(a[0], a[1], pair, a[2])],
  ['typed.set', (m, a) => m.typed(u32, pair).set(a[0], a[1])],
  ['typed.get', (m, a) => m.typed(u32, u64).get(a[0])],
  ['lookupBatch', (m, a) => [...m.lookupBatch(...a)]],
  ['updateBatch', (m, a) => m.updateBatch(...a)],
  ['deleteBatch', (m, a) => m.deleteBatch(...a)],
  ['entries', (m) => [...m.entries()]],
  ['mmap', (m, a) => lib.BpfMap.unmap(m.mmap(...a))],
  ['lookupInnerMap', (m, a) => m.lookupInnerMap(...a)?.close()],
  ['RingBufReader', (m) => new lib.RingBufReader(m).close()],
  ['PerfEventReader', (m, a) => new lib.PerfEventReader(m, a[0]).close()],
  ['typedFromBtf', (m, a) => m.typedFromBtf().get(a[0])],
  ['bpfMapLookupElem', (m, a) => lib.bpfMapLookupElem(m, ...a)],
  ['bpfMapUpdateElem', (m, a) => lib.bpfMapUpdateElem(m, ...a)],
  ['bpfMapGetNextKey', (m, a) => lib.bpfMapGetNextKey(m, ...a)],
  ['bpfMapLookupBatch', (m, a) => lib.bpfMapLookupBatch(m, ...a)],
  ['bpfMapDeleteBatch', (m, a) => lib.bpfMapDeleteBatch(m, ...a)],
];
const FREE_CALLS = [
  ['BpfMap.create', (a) => BpfMap.create(a[0]).close()],
  ['bpfMapCreate', (a) => lib.bpfMapCreate(...a).close()],
  ['BpfMap.fromId', (a) => BpfMap.fromId(a[0] === 0 ? 0 : 0xfffffff0).close()],
  ['BpfMap.openPinned', (a) => BpfMap.openPinned(typeof a[0] === 'string' ? `/nonexistent/${a[0]}` : a[0]).close()],
  ['lpmKey', (a) => lib.lpmKey(...a)],
  ['encodeIntKey', (a) => lib.encodeIntKey(...a)],
  ['decodeIntValue', (a) => lib.decodeIntValue(...a)],
  ['defineStruct', (a) => lib.defineStruct(...a)],
  ['array', (a) => lib.array(...a)],
  ['cstring', (a) => lib.cstring(...a)],
  ['pair.encode', (a) => pair.encode(...a)],
  ['pair.decode', (a) => pair.decode(...a)],
  ['parseBtf', (a) => lib.parseBtf(...a)],
  ['Btf.load', (a) => lib.Btf.load(...a).close()],
  ['loadProgram', (a) => lib.loadProgram({ type: lib.ProgType.SocketFilter, instructions: a[0] }).close()],
  [
    'Asm',
    (a) =>
      new lib.Asm()
        .mov64(...a)
        .exit()
        .build(),
  ],
];

const figures = { calls: 0, returned: 0, threw: 0, mustThrow: 0, cli: 0, cliCodes: {}, seed };

function call(name, fn) {
  figures.calls++;
  try {
    fn();
    figures.returned++;
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`${name} threw a non-Error: ${String(e)}`);
    if (e.message === '' || e.message.includes('undefined undefined'))
      throw new Error(`${name} threw an unhelpful error: ${e.stack}`);
    figures.threw++;
  }
}

/** Inputs that are wrong on every path must throw, never succeed quietly. */
function mustThrow(name, fn, check) {
  figures.mustThrow++;
  try {
    fn();
  } catch (e) {
    if (check && !check(e)) throw new Error(`${name}: wrong error ${e?.stack ?? e}`);
    return;
  }
  throw new Error(`${name}: succeeded on input it must refuse`);
}

fc.assert(
  fc.property(
    fc.oneof(
      fc.tuple(fc.constant('map'), fc.nat(CALLS_TABLE.length - 1), mapName, args),
      fc.tuple(fc.constant('free'), fc.nat(FREE_CALLS.length - 1), fc.constant(''), args),
      fc.tuple(fc.constant('fd'), fc.nat(2), safeFd, args),
      fc.tuple(fc.constant('wrong'), fc.nat(5), mapName, fc.integer({ min: 0, max: 24 })),
    ),
    ([kind, i, target, a]) => {
      if (kind === 'map') {
        const [name, fn] = CALLS_TABLE[i];
        call(name, () => fn(maps[target], a));
      } else if (kind === 'free') {
        const [name, fn] = FREE_CALLS[i];
        call(name, () => fn(a));
      } else if (kind === 'fd') {
        const fd = target;
        if (ownFds.has(fd)) return;
        const fns = [
          () => BpfMap.fromFd(fd),
          () => lib.bpfMapLookupElem(fd, new Uint8Array(4), new Uint8Array(8)),
          () => lib.bpfMapUpdateElem(fd, new Uint8Array(4), new Uint8Array(8)),
        ];
        mustThrow(`fd ${fd}`, fns[i], (e) => e instanceof TypeError || BpfError.is(e) || e instanceof RangeError);
      } else {
        const m = maps[target];
        const size = a === m.keySize ? a + 1 : a;
        const wrongKey = new Uint8Array(size);
        const fns = [
          () => m.lookup(wrongKey),
          () => m.update(wrongKey, new Uint8Array(m.valueBufferSize)),
          () => m.delete(wrongKey),
          () => closed.lookup(new Uint8Array(4)),
          () => closed.update(new Uint8Array(4), new Uint8Array(8)),
          () => lib.bpfMapLookupElem(closedFd, new Uint8Array(4), new Uint8Array(8)),
        ];
        if (m.keySize === 0 && i < 3) return; // keyless maps take null keys; covered by the random calls
        mustThrow(`wrong input ${i} on ${target}`, fns[i]);
      }
    },
  ),
  { numRuns: CALLS, seed },
);

// Random command lines, in process (no watch: it runs until stopped).
const ids = Object.values(maps).map((m) => String(m.id));
const word = fc.oneof(
  fc.constantFrom(
    'list',
    'show',
    'dump',
    'lookup',
    'update',
    'delete',
    'getnext',
    'push',
    'pop',
    'peek',
    'create',
    'pin',
    'freeze',
    'help',
  ),
  fc.constantFrom('id', 'pinned', 'name', 'key', 'value', 'hex', 'any', 'noexist', 'exist', 'lock', 'type', 'entries', 'flags'),
  fc.constantFrom(...ids, '0', '4294967295', 'fz_hash', 'fz_q', 'hash', 'queue', `${tmpdir()}/bpfmap-fuzz-pin`, '/nonexistent/x'),
  fc.constantFrom('0x01', '0x00', '0xff', '0x100', '1', '255', '256', '-1', 'zz', '01', 'ab'),
  fc.constantFrom(
    '--json',
    '--pretty',
    '--help',
    '--key-int',
    '--value-int',
    '--key',
    '--value',
    '--count',
    '--bogus',
    '--',
    '-x',
  ),
  fc.string({ maxLength: 6 }),
);
const out = process.stdout.write.bind(process.stdout);
const err = process.stderr.write.bind(process.stderr);
const silent = { out: () => {} };
await fc.assert(
  fc.asyncProperty(
    fc.oneof(
      fc.array(word, { minLength: 0, maxLength: 10 }),
      // Mostly well-formed: a verb, a reference to one of our maps, then random words.
      fc
        .tuple(
          fc.constantFrom('show', 'dump', 'lookup', 'update', 'delete', 'getnext', 'push', 'pop', 'peek'),
          fc.constantFrom(...ids.map((id) => ['id', id]), ['name', 'fz_hash'], ['name', 'fz_q']),
          fc.array(word, { maxLength: 12 }),
        )
        .map(([verb, ref, rest]) => [verb, ...ref, ...rest]),
    ),
    async (argv) => {
      if (argv.includes('freeze') && argv.some((w) => w === maps.hash.id.toString())) return; // keep the main map writable
      process.stdout.write = () => true;
      process.stderr.write = () => true;
      let code;
      try {
        code = await main(argv, silent);
      } finally {
        process.stdout.write = out;
        process.stderr.write = err;
      }
      if (![0, 1, 2].includes(code)) throw new Error(`bpfmap ${argv.join(' ')} exited with ${code}`);
      figures.cli++;
      figures.cliCodes[code] = (figures.cliCodes[code] ?? 0) + 1;
    },
  ),
  { numRuns: CLI_RUNS, seed },
);

// The maps are still whole and usable.
for (const m of Object.values(maps)) {
  if (m.closed) throw new Error(`map ${m.name} was closed by the fuzzer`);
  if (m.keySize > 0) [...m.keys()];
}
for (const m of Object.values(maps)) m.close();
btf.close();
prog.close();
closeSync(fileFd);
closeSync(dirFd);
figures.fdsBefore = fdsAtStart;
{
  const loaded = readFileSync('/proc/self/maps', 'utf8');
  figures.asan = /libasan/.test(loaded) && loaded.includes('build-asan');
}
figures.fdsAfter = fdCount();
console.log(JSON.stringify(figures));
