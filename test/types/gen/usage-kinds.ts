// Type test of the skeleton test/89 generates for test/fixtures/gen/kinds.bpf.c: C names TypeScript
// reserves get a `_`, a typedef of a struct with its own name is the struct, spin locks are not
// part of records, and the maps without a typed view are typed as what they are.
import type { BpfMap, TypedMap } from 'bpfmap';
import { type class_, type load_, type pair, type with_lock, load, tight } from './kinds.js';

export function use(): void {
  const s = load();
  try {
    const classes: TypedMap<load_, class_> = s.maps.classes;
    const c = classes.get(1);
    const p: pair | undefined = c?.pt.p;
    const addr: number | undefined = c?.addr;
    const wide: number[] | undefined = c?.wide;
    const grid: number[][] | undefined = c?.grid;
    const on: boolean | undefined = c?.on;
    const both: number | undefined = c?.both;
    const w: with_lock | undefined = s.maps.locked.get(0);
    const count: bigint | undefined = w?.count;
    const q: BpfMap = s.maps.queue;
    const ts: bigint | undefined = s.maps.samples.open().read()?.value?.ts;
    const n: number | undefined = s.maps.ring.open().read()?.n;
    void [p, addr, wide, grid, on, both, count, q, ts, n, tight.encode({ a: 1, b: 2, c: 3 })];
    // @ts-expect-error: a spin lock is not part of the record
    void w?.lock;
    // @ts-expect-error: `on` is a _Bool
    classes.set(1, { ...(c as class_), on: 1 });
    // @ts-expect-error: a queue has no typed view
    s.maps.queue.get(0);
  } finally {
    s.close();
  }
}
