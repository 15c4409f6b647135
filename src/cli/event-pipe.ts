/**
 * `bpfmap event_pipe MAP`: what programs send to a ring buffer or a perf
 * event array, one line per record, until Ctrl-C (SIGINT) or `--count N`
 * records. Bytes as hex, or with `--type NAME` the fields of a BTF struct
 * (from the map's BTF, else the BTF of a loaded program that uses the map —
 * the object the map came from); records shorter than the type decode to the
 * fields wholly present. `--json`: one JSON object per line. Perf event
 * arrays also report the samples the kernel dropped (`lost`).
 */
import {
  type BpfMap,
  type BtfSpec,
  BtfKind,
  type Codec,
  MapType,
  PerfEventReader,
  type PerfRecord,
  RingBufReader,
  readBtf,
} from '../index.js';
import { type Parsed, type Words, parseCount, parseMapSelector } from './args.js';
import { CliError, openMap, typeName } from './maps.js';
import { hexList, hexText, json, formatValue } from './output.js';
import { programsUsing } from './progs.js';

/** The struct, union or typedef named `name` (`event` or `struct event`) in `spec`. */
function findType(spec: BtfSpec, name: string): number | undefined {
  const bare = name.replace(/^(struct|union|enum)\s+/, '');
  const kinds = /^union\s/.test(name)
    ? [BtfKind.Union]
    : /^struct\s/.test(name)
      ? [BtfKind.Struct]
      : [BtfKind.Struct, BtfKind.Union, BtfKind.Typedef, BtfKind.Enum, BtfKind.Int];
  for (const kind of kinds) {
    const i = spec.types.findIndex((t) => t.kind === kind && t.name === bare);
    if (i >= 0) return i + 1;
  }
  return undefined;
}

function typeCodec(map: BpfMap, name: string): Codec<unknown> {
  const btfIds: number[] = [];
  const own = map.info().btfId;
  if (own) btfIds.push(own);
  for (const p of programsUsing(map.id)) if (p.btf_id && !btfIds.includes(p.btf_id)) btfIds.push(p.btf_id);
  if (btfIds.length === 0)
    throw new CliError(`--type ${name}: map ${map.id} has no BTF and no loaded program using it has any; drop --type for hex`);
  for (const id of btfIds) {
    const spec = readBtf(id);
    const t = findType(spec, name);
    if (t !== undefined) return spec.codec(t, name);
  }
  throw new CliError(`--type ${name}: no type of that name in BTF ${btfIds.join(', ')} (the map's, or its programs')`);
}

export async function eventPipe(w: Words, p: Parsed): Promise<number> {
  const map = openMap(parseMapSelector(w));
  w.end();
  const out = (s: string) => process.stdout.write(`${s}\n`);
  let reader: RingBufReader | PerfEventReader | undefined;
  try {
    const countOpt = p.options.get('--count');
    const limit = countOpt === undefined ? Number.POSITIVE_INFINITY : parseCount(countOpt, '--count', w.verb);
    const typeOpt = p.options.get('--type');
    const codec = typeOpt === undefined ? undefined : typeCodec(map, typeOpt);
    if (map.type === MapType.Ringbuf) reader = new RingBufReader(map);
    else if (map.type === MapType.PerfEventArray) reader = new PerfEventReader(map);
    else throw new CliError(`event_pipe reads ringbuf and perf_event_array maps; this is a ${typeName(map.type)} map`);
    const r = reader;
    const stop = () => r.close();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stderr.write(
      `bpfmap: reading ${typeName(map.type)} map ${map.id}${codec ? ` as ${codec.name}` : ''} (Ctrl-C ends)\n`,
    );
    const fields = (data: Uint8Array) => (codec ? codec.decode(data, { partial: true }) : undefined);
    let n = 0;
    let lost = 0;
    const line = (cpu: number | undefined, data: Uint8Array) => {
      if (p.json) {
        const rec: Record<string, unknown> = cpu === undefined ? {} : { cpu };
        rec.size = data.length;
        rec.data = hexList(data);
        if (codec) rec.formatted = fields(data);
        return out(json(rec));
      }
      const prefix = cpu === undefined ? '' : `cpu ${cpu}: `;
      out(prefix + (codec ? formatValue(fields(data)) : hexText(data)));
    };
    if (r instanceof RingBufReader) {
      for await (const data of r) {
        line(undefined, data);
        if (++n >= limit) break;
      }
    } else {
      for await (const rec of r as AsyncIterable<PerfRecord>) {
        if (rec.lost !== undefined) {
          lost += rec.lost;
          if (p.json) out(json({ cpu: rec.cpu, lost: rec.lost }));
          else out(`cpu ${rec.cpu}: lost ${rec.lost} samples`);
          continue;
        }
        // Perf pads samples to 8 bytes: with a type, decode only the type's bytes.
        line(rec.cpu, codec && rec.data.length > codec.size ? rec.data.subarray(0, codec.size) : rec.data);
        if (++n >= limit) break;
      }
    }
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    process.stderr.write(`bpfmap: ${n} record${n === 1 ? '' : 's'}${r instanceof PerfEventReader ? `, ${lost} lost` : ''}\n`);
    return 0;
  } finally {
    reader?.close();
    map.close();
  }
}
