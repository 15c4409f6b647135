// Type-level tests of bpfmap/testing: BpfMap and FakeMap are both a BpfMapLike, the real and fake
// readers share their consumer interfaces, and typed views over either have the same types.
import {
  type BpfMap,
  type BpfMapLike,
  MapType,
  type PerfEventReader,
  type PerfEventReaderLike,
  type RingBufReader,
  type RingBufReaderLike,
  type TypedMap,
  defineStruct,
  u32,
} from 'bpfmap';
import { FakeMap, FakePerfEventReader, FakeRingBufReader } from 'bpfmap/testing';

const stats = defineStruct('stats', { packets: 'u64', drops: 'u32' });

function total(map: BpfMapLike<number, { packets: bigint; drops: number }>): bigint {
  let sum = 0n;
  for (const [, v] of map.typed()) sum += v.packets;
  return sum;
}

declare const real: BpfMap<number, { packets: bigint; drops: number }>;
const fake = FakeMap.create({ type: MapType.Hash, key: u32, value: stats, maxEntries: 4 });
const a: bigint = total(real);
const b: bigint = total(fake);
const asLike: BpfMapLike = real; // the lead adds `implements BpfMapLike` to BpfMap; this proves it already fits
const fakeLike: BpfMapLike = fake;
const view: TypedMap<number, { packets: bigint; drops: number }> = fake.typed();
const got: { packets: bigint; drops: number } | undefined = view.get(1);
void [a, b, asLike, fakeLike, got];

// @ts-expect-error a FakeMap is not a BpfMap (no fd, pin, info, mmap)
const notReal: BpfMap = fake;
void notReal;
// @ts-expect-error BpfMapLike has no fd: code that takes one cannot reach the kernel behind the fake's back
void fakeLike.fd;

declare const ring: RingBufReader;
declare const perf: PerfEventReader;
const rings: RingBufReaderLike[] = [ring, new FakeRingBufReader()];
const perfs: PerfEventReaderLike[] = [perf, new FakePerfEventReader()];
void [rings, perfs];
async function consume(r: RingBufReaderLike): Promise<number> {
  for await (const rec of r.decoded(stats)) return rec.drops;
  return -1;
}
void consume;
