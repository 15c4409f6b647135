// A map created with key/value codecs carries their types: typed(), typedPerCpu() and iteration
// infer them with no type written by hand (issue 14 §5).
import { Server, Socket } from 'node:net';
import {
  BpfMap,
  type Infer,
  MapType,
  type PerCpuTypedMap,
  type TypedMap,
  bpfMapLookupElem,
  cstring,
  defineStruct,
  u32,
  u64,
} from 'bpfmap';

const flowKey = defineStruct('flow_key', { src: 'be32', dst: 'be32', port: 'be16', proto: 'u8' });
const stats = defineStruct('stats', { packets: 'u64', drops: 'u32', comm: cstring(16) });
type FlowKey = Infer<typeof flowKey>;
type Stats = Infer<typeof stats>;

const flows = BpfMap.create({ type: MapType.Hash, key: flowKey, value: stats, maxEntries: 16 });
const t = flows.typed();
const exact: TypedMap<FlowKey, Stats> = t;
t.set({ src: 1, dst: 2, port: 443, proto: 6 }, stats.make({ packets: 1n }));
const s: Stats | undefined = t.get({ src: 1, dst: 2, port: 443, proto: 6 });
if (s !== undefined) {
  const packets: bigint = s.packets;
  const comm: string = s.comm;
  void [packets, comm];
}
for (const [key, value] of t) {
  const port: number = key.port;
  const packets: bigint = value.packets;
  void [port, packets];
}
for (const key of t.keys()) void (key.proto satisfies number);
for (const value of t.values()) void (value.drops satisfies number);

// Explicit codecs still win over the map's own.
const raw: TypedMap<number, bigint> = BpfMap.create({ type: MapType.Hash, key: u32, value: u64, maxEntries: 1 }).typed(u32, u64);
// A key codec only: the value type stays unknown.
const keyOnly = BpfMap.create({ type: MapType.Hash, key: u32, valueSize: 8, maxEntries: 1 });
const ko: TypedMap<number, unknown> = keyOnly.typed();
// Per-CPU maps: typedPerCpu() infers too.
const pc = BpfMap.create({ type: MapType.PercpuHash, key: u32, value: u64, maxEntries: 1 });
const pct: PerCpuTypedMap<number, bigint> = pc.typedPerCpu();
const perCpu: bigint[] | undefined = pct.get(1);
// Maps without codecs are BpfMap<unknown, unknown>, as before.
const opened: BpfMap = BpfMap.fromId(1);
const ot: TypedMap<unknown, unknown> = opened.typed();
const fromBtf: TypedMap<unknown, unknown> = opened.typedFromBtf();
// A typed map is still a BpfMap wherever one is taken.
const asPlain: BpfMap = flows;
BpfMap.create({ type: MapType.ArrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: flows });
bpfMapLookupElem(flows, new Uint8Array(12), new Uint8Array(28));
keyOnly.update(new Uint8Array(4), flows);
// Sockets and servers are fd values of sockmaps (their types come from the caller's @types/node).
keyOnly.update(new Uint8Array(4), new Socket());
keyOnly.update(new Uint8Array(4), new Server());
void [exact, raw, ko, perCpu, ot, fromBtf, asPlain];

// @ts-expect-error a misspelt key field is an error
t.get({ src: 1, dst: 2, prot: 443, proto: 6 });
// @ts-expect-error a key field of the wrong type is an error
t.get({ src: 1, dst: 2, port: '443', proto: 6 });
// @ts-expect-error a value field of the wrong type is an error (u64 is bigint)
t.set({ src: 1, dst: 2, port: 443, proto: 6 }, { packets: 1, drops: 0, comm: '' });
// @ts-expect-error a value field that the struct lacks is an error
t.set({ src: 1, dst: 2, port: 443, proto: 6 }, { packets: 1n, drops: 0, comm: '', bytes: 0n });
// @ts-expect-error the typed view's keys are records, not numbers
t.get(1);
// @ts-expect-error iteration yields Stats, whose fields are known
for (const [, value] of t) void value.bytes;
// @ts-expect-error per-CPU views yield one value per CPU
const notArray: bigint | undefined = pct.get(1);
// @ts-expect-error a number is not an fd value
keyOnly.update(new Uint8Array(4), 42);
// @ts-expect-error a plain object is not an fd value
keyOnly.update(new Uint8Array(4), { fd: 3 });
void notArray;
