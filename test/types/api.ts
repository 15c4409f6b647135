// Type-level tests: this file must compile, and each @ts-expect-error line must be an error.
import {
  BPF_NOEXIST,
  BpfError,
  BpfMap,
  type MapInfo,
  MapType,
  type MapValue,
  bpfMapCreate,
  bpfMapLookupElem,
  listMaps,
} from 'bpfmap';

const map: BpfMap = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1 });
const v: MapValue | undefined = map.lookup(new Uint8Array(4));
if (v !== undefined && !Array.isArray(v)) {
  const bytes: Uint8Array = v;
  void bytes;
}
map.update(new Uint8Array(4), new Uint8Array(8), { flags: BPF_NOEXIST });
const present: boolean = map.delete(new Uint8Array(4));
const next: Uint8Array | undefined = map.getNextKey();
const isBloom: boolean = map.peek(new Uint8Array(4));
const head: Uint8Array | undefined = map.peek();
for (const [k, val] of map) void [k, val];
const infos: MapInfo[] = listMaps();
const m2: BpfMap = bpfMapCreate(MapType.Array, null, 4, 4, 1);
const found: boolean = bpfMapLookupElem(m2.fd, new Uint8Array(4), new Uint8Array(4));
try {
  map.close();
} catch (e) {
  if (BpfError.is(e, 'ENOENT')) {
    const n: number = e.errno;
    const cmd: string = e.command;
    void [n, cmd];
  }
}
{
  using scoped = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
  void scoped;
}
void [present, next, isBloom, head, infos, found];

// @ts-expect-error maxEntries is required
BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 4 });
// @ts-expect-error keys are bytes, not strings
map.update('key', new Uint8Array(8));
// @ts-expect-error the fd is read-only
map.fd = 3;
// @ts-expect-error the name is a string or null
bpfMapCreate(MapType.Hash, 42, 4, 4, 1);
// @ts-expect-error flags are numbers
map.update(new Uint8Array(4), new Uint8Array(8), { flags: 'noexist' });
