// Type inference of codecs: records are inferred from struct definitions, never written by hand.
import {
  BpfMap,
  type Infer,
  MapType,
  type PerCpuTypedMap,
  type TypedMap,
  array,
  bpfSpinLock,
  cstring,
  defineStruct,
  u32,
  u64,
} from 'bpfmap';

const flow = defineStruct('flow', {
  src: 'be32',
  port: 'be16',
  bytes: 'u64',
  delta: 'i64',
  ratio: 'f64',
  ok: 'bool',
  hops: array('u8', 4),
  comm: cstring(16),
  lock: bpfSpinLock,
  inner: defineStruct('inner', { a: 'u16', b: 'be64' }),
});
type Flow = Infer<typeof flow>;

const rec: Flow = {
  src: 1,
  port: 2,
  bytes: 3n,
  delta: -4n,
  ratio: 0.5,
  ok: true,
  hops: [1, 2, 3, 4],
  comm: 'x',
  inner: { a: 1, b: 2n },
};
const made: Flow = flow.make({ port: 80 });
const bytes: Uint8Array = flow.encode(rec);
const back: Flow = flow.decode(bytes);
const n: number = back.src;
const big: bigint = back.inner.b;
void [made, n, big];

const map = BpfMap.create({ type: MapType.Hash, key: u32, value: flow, maxEntries: 1 });
const tm: TypedMap<number, Flow> = map.typed(u32, flow);
const got: Flow | undefined = tm.get(1);
tm.set(1, rec);
for (const [k, v] of tm) void [k satisfies number, v satisfies Flow];
const pc: PerCpuTypedMap<number, bigint> = map.typedPerCpu(u32, u64);
const perCpu: bigint[] | undefined = pc.get(1);
const i: bigint | bigint[] | undefined = map.lookupInt(1);
void [got, perCpu, i];

// @ts-expect-error 64-bit fields are bigint
const wrong1: Flow = { ...rec, bytes: 3 };
// @ts-expect-error narrower integers are number
const wrong2: Flow = { ...rec, src: 1n };
// @ts-expect-error spin locks are not part of records
const wrong3: Flow = { ...rec, lock: 0 };
// @ts-expect-error arrays hold their element type
const wrong4: Flow = { ...rec, hops: ['a', 'b', 'c', 'd'] };
// @ts-expect-error a missing field is an error
const wrong5: Flow = { src: 1 };
// @ts-expect-error keys are numbers for a u32 key type
tm.get('1');
void [wrong1, wrong2, wrong3, wrong4, wrong5];
