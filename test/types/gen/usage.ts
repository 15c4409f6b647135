// Type test of a generated skeleton (test/89 copies it next to the module `bpfmap gen skeleton`
// printed for test/fixtures/gen/skel.bpf.c and compiles both with tsc --strict): what users write
// compiles, and each line under a @ts-expect-error is an error — an unused one fails the build.
import { type PerCpuTypedMap, type TypedMap, defineStruct } from 'bpfmap';
import { type color, type flags, type key, type point, type stats, load, mapTypes, stats as statsCodec } from './skel.js';
import * as types from './types.js';

export function use(): void {
  const s = load({ variables: { multiplier: 2, origin: { x: 1, y: 2 }, default_color: 'GREEN' } });
  try {
    const table: TypedMap<key, stats> = s.maps.table;
    const perCpu: PerCpuTypedMap<number, point> = s.maps.per_cpu;
    const rec: stats | undefined = table.get({ id: 1, proto: 6 });
    const hits: number | undefined = rec?.hits;
    const name: string | undefined = rec?.name;
    const wide: bigint | undefined = rec?.fl.wide;
    const c: color | undefined = rec?.color;
    const asU32: number | undefined = rec?.as_u32; // a member of an anonymous union: optional
    const inner: number | undefined = rec?.inner_a; // a member of an anonymous struct: lifted
    const big: bigint | string | undefined = rec?.big;
    const x: number | undefined = perCpu.get(0)?.[0]?.x;
    const runs: bigint = s.variables.runs.get();
    s.variables.runs.set(5n);
    s.variables.label.set('abc');
    const f: flags = s.variables.last_flags.get();
    const r: { pid: number; comm: string } | undefined = s.maps.events.open().read();
    s.programs.fill.testRun({});
    void [hits, name, wide, c, asU32, inner, big, x, runs, f, r];

    // @ts-expect-error: struct key has no field `port`
    table.get({ id: 1, port: 6 });
    // @ts-expect-error: `id` is a number, not a string
    table.set({ id: '1', proto: 6 }, statsCodec.make());
    // @ts-expect-error: `hits` is a number
    table.set({ id: 1, proto: 6 }, { ...statsCodec.make(), hits: 1n });
    // @ts-expect-error: PURPLE is not an enumerator of enum color
    const bad: color = 'PURPLE';
    // @ts-expect-error: per-CPU values are one per CPU: an array
    const one: point | undefined = perCpu.get(0);
    // @ts-expect-error: runs is a __u64: bigint
    s.variables.runs.set(5);
    // @ts-expect-error: the object has no variable `nope`
    s.variables.nope.get();
    // @ts-expect-error: the object has no map `nope`
    void s.maps.nope;
    // @ts-expect-error: the object has no program `nope`
    void s.programs.nope;
    // @ts-expect-error: bitfield `wide` is more than 32 bits: a bigint
    const w: number = f.wide;
    void [bad, one, w];
  } finally {
    s.close();
  }
  // @ts-expect-error: load options type the initial variables: multiplier is a number
  load({ variables: { multiplier: 'two' } });
  // @ts-expect-error: and name only the object's variables
  load({ variables: { nope: 1 } });

  // The codecs-only module declares the same types, usable with maps made elsewhere.
  const k: types.key = { id: 1, proto: 2 };
  const other = defineStruct('other', { p: types.point, c: types.color });
  const v: { p: point; c: color } = other.decode(new Uint8Array(other.size));
  // @ts-expect-error: a record of the codecs-only module checks its fields too
  const k2: types.key = { id: 1 };
  void [k, v, k2, mapTypes.table.key, types.mapTypes.counts.value];
}
