// Type-level tests for the kernel-side API: programs, BTF, fd-valued updates, LPM prefixes,
// the ring buffer reader. Compiled by test/90.types.test.mjs; never run.
import { Socket } from 'node:net';
import {
  Asm,
  AttachType,
  BpfMap,
  type BpfProgram,
  MapType,
  ProgType,
  R0,
  R1,
  type ReadOnlyMapping,
  PerfEventReader,
  RingBufReader,
  defineStruct,
  type TestRunResult,
  type TypedMap,
  loadProgram,
  lpmIPv4,
  readBtf,
  u32,
} from 'bpfmap';

declare const map: BpfMap;
const prog: BpfProgram = loadProgram({ type: ProgType.SocketFilter, instructions: new Asm().mov64(R0, 0).exit() });
const r: TestRunResult = prog.testRun({ data: new Uint8Array(64), repeat: 10 });
const retval: number = r.retval;
map.update(new Uint8Array(4), prog); // prog arrays take the program itself
map.update(new Uint8Array(4), new Socket()); // sockmaps take sockets
map.update(new Uint8Array(4), map); // maps of maps take maps
const inner: BpfMap | undefined = map.lookupInnerMap(new Uint8Array(4));
const foreign: TypedMap<unknown, unknown> = map.typedFromBtf();
const routes = map.typed(lpmIPv4, u32);
const hops: number | undefined = routes.get('10.0.0.0/8');
const att = prog.attachCgroup('/sys/fs/cgroup/unified/x', AttachType.CgroupInetEgress);
att.detach();
const view: Uint8Array = map.mmap();
BpfMap.unmap(view);
const ro: ReadOnlyMapping = map.mmap({ writable: false }); // reads and copies only: no typed array over read-only pages
const byte: number = ro.getUint8(0);
BpfMap.unmap(ro);
// @ts-expect-error a read-only mapping is not a Uint8Array
const notBytes: Uint8Array = map.mmap({ writable: false });
const reader = new RingBufReader(map);
const first: Uint8Array | undefined = reader.read();
async function drain(): Promise<void> {
  for await (const rec of reader) void (rec satisfies Uint8Array);
  const ev = defineStruct('event', { pid: 'u32', ts: 'u64' });
  for await (const e of reader.decoded(ev)) void (e.ts satisfies bigint);
  for await (const e of reader.decoded(ev, { partial: true })) {
    // @ts-expect-error a partial record may lack a field
    void (e.ts satisfies bigint);
  }
  for await (const e of new PerfEventReader(map).decoded(ev)) if (e.lost === undefined) void (e.value.pid satisfies number);
}
const spec = readBtf(1);
const name: string = spec.cName(1);
void [retval, inner, foreign, hops, first, drain, name, MapType.Ringbuf, byte, notBytes];

// @ts-expect-error registers are R0…R10, not numbers
new Asm().mov64(1, 0);
// @ts-expect-error jumps take a label or an offset
new Asm().ja(R1);
// @ts-expect-error a number is not a value map updates take
map.update(new Uint8Array(4), 42);
// @ts-expect-error LPM prefixes are text
routes.get(10);
// @ts-expect-error testRun repeat is a number
prog.testRun({ repeat: '10' });
