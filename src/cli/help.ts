/** `bpfmap --help` and `bpfmap VERB --help`. */
export const VERBS: Readonly<Record<string, { usage: string; about: string; examples: string[] }>> = {
  list: {
    usage: 'bpfmap list [--json]',
    about: 'Every map on the system: id, type, name, key/value sizes, max entries, flags, memory, pinned paths.',
    examples: ['bpfmap list', 'bpfmap list --json | jq ".[] | select(.type == \\"hash\\")"'],
  },
  show: {
    usage: 'bpfmap show MAP [--json]',
    about: "One map's details.",
    examples: ['bpfmap show id 42', 'bpfmap show pinned /sys/fs/bpf/flows'],
  },
  dump: {
    usage: 'bpfmap dump MAP [--json | --pretty]',
    about:
      'Every entry: typed fields when the map has BTF, bytes otherwise; per-CPU values by CPU with a sum. --json prints what bpftool map dump -j prints (plus "formatted" with BTF), streamed as it is read. Maps whose entries cannot be read (perf event arrays, cgroup arrays) list each key with its error.',
    examples: ['bpfmap dump name flows', 'bpfmap dump id 42 --json'],
  },
  lookup: {
    usage: 'bpfmap lookup MAP key BYTES… | --key-int N | --key JSON  [--json]',
    about: 'The value under one key. Exit code 1 when the key is absent.',
    examples: [
      'bpfmap lookup id 42 key 0x01 0x00 0x00 0x00',
      'bpfmap lookup id 42 --key-int 1',
      'bpfmap lookup id 42 --key \'{"src": 167772161, "dst": 167772162, "port": 443, "proto": 6}\'   # JSON: every field of the BTF key',
    ],
  },
  update: {
    usage: 'bpfmap update MAP key BYTES… value BYTES… [any|noexist|exist] [lock]   (or --key-int/--key, --value-int/--value)',
    about:
      'Stores a value (per-CPU maps: the same value on every CPU). On a global-data map (.bss, .data, .rodata) --value JSON names only the variables to change; the others keep their values.',
    examples: [
      'bpfmap update id 42 key hex 01 00 00 00 value hex 2a 00 00 00 00 00 00 00',
      'bpfmap update pinned /sys/fs/bpf/x --key-int 1 --value-int 7 noexist',
      'bpfmap update name my_prog.bss --key-int 0 --value \'{"my_pid": 123}\'',
    ],
  },
  delete: {
    usage: 'bpfmap delete MAP key BYTES… | --key-int N | --key JSON',
    about: 'Deletes one key. Exit code 1 when it is absent.',
    examples: ['bpfmap delete id 42 --key-int 1'],
  },
  getnext: {
    usage: 'bpfmap getnext MAP [key BYTES… | --key-int N | --key JSON]',
    about: 'The key after the given one (the first key without one). Exit code 1 at the end.',
    examples: ['bpfmap getnext id 42', 'bpfmap getnext id 42 key 0x01 0x00 0x00 0x00'],
  },
  push: {
    usage: 'bpfmap push MAP value BYTES… | --value-int N [exist]',
    about: 'Pushes onto a queue or stack, or adds to a bloom filter (exist: overwrite the oldest when full).',
    examples: ['bpfmap push pinned /sys/fs/bpf/q --value-int 7'],
  },
  pop: {
    usage: 'bpfmap pop MAP [--json]',
    about: 'Takes the head of a queue or stack. Exit code 1 when empty.',
    examples: ['bpfmap pop id 9'],
  },
  peek: {
    usage: 'bpfmap peek MAP [value BYTES…] [--json]',
    about: 'Shows the head of a queue or stack; on a bloom filter, whether a value is possibly present.',
    examples: ['bpfmap peek id 9', 'bpfmap peek id 10 value hex 01 02 03 04'],
  },
  create: {
    usage: 'bpfmap create PATH type TYPE key N value N entries N [name NAME] [flags F]',
    about:
      'Creates a map and pins it at PATH (on a bpffs). TYPE as bpftool spells it: hash, array, percpu_hash, lru_hash, queue, …',
    examples: ['bpfmap create /sys/fs/bpf/counts type hash key 4 value 8 entries 1024 name counts'],
  },
  pin: { usage: 'bpfmap pin MAP PATH', about: 'Pins a map at PATH.', examples: ['bpfmap pin id 42 /sys/fs/bpf/flows'] },
  freeze: {
    usage: 'bpfmap freeze MAP',
    about: 'Freezes a map: later writes from userspace fail (programs may still write).',
    examples: ['bpfmap freeze id 42'],
  },
  event_pipe: {
    usage: 'bpfmap event_pipe MAP [--type NAME] [--json] [--count N]',
    about:
      "Records from a ring buffer or perf event array, one line each, until Ctrl-C (or N records): hex, or with --type the fields of a BTF type (from the map's BTF, else the BTF of a loaded program using the map; short records give the fields present). --json: JSON lines {cpu, size, data, formatted}. Perf arrays also report lost samples ({cpu, lost}).",
    examples: ['bpfmap event_pipe name events', 'bpfmap event_pipe id 7 --type "struct event" --json | jq .formatted.pid'],
  },
  prog: {
    usage: 'bpfmap prog list | prog show [id N | pinned PATH] | prog load OBJ PINDIR [pinmaps DIR] [autoattach]  [--json]',
    about:
      'Loaded programs, as bpftool prog show: id, type, name, tag, map ids, BTF id, and run time/count when stats are on (sysctl kernel.bpf_stats_enabled=1). prog load (bpftool prog loadall) loads a clang-compiled object and pins every program at PINDIR/<name>, its maps at DIR/<name> with pinmaps; with autoattach it attaches the programs whose section says where and pins their links there instead (rm the pin to detach).',
    examples: [
      'bpfmap prog list',
      'bpfmap prog show id 12 --json',
      'bpfmap prog show pinned /sys/fs/bpf/my_prog',
      'bpfmap prog load tracer.bpf.o /sys/fs/bpf/tracer pinmaps /sys/fs/bpf/tracer_maps autoattach',
    ],
  },
  link: {
    usage:
      'bpfmap link list | link show [id N | pinned PATH] | link pin (id N | pinned PATH) FILE | link detach (id N | pinned PATH)  [--json]',
    about:
      'BPF links, as bpftool link: id, type, program id and the fields of the link type (tracepoint, interface, cgroup, attach type, iterator target); pin one on a bpffs, or detach it (its program stops running, even when pinned).',
    examples: [
      'bpfmap link list',
      'bpfmap link show id 3 --json',
      'bpfmap link pin id 3 /sys/fs/bpf/my_link',
      'bpfmap link detach pinned /sys/fs/bpf/my_link',
    ],
  },
  export: {
    usage: 'bpfmap export --config FILE [--listen HOST:PORT]',
    about:
      'Serves maps as Prometheus metrics at /metrics (default 127.0.0.1:9435), read when scraped: counters, gauges and histograms with labels from BTF key fields, as the YAML config says (docs/metrics.md). Stops on SIGTERM/SIGINT.',
    examples: ['bpfmap export --config examples/metrics/syscalls.yaml', 'bpfmap export --config maps.yaml --listen 0.0.0.0:9435'],
  },
  gen: {
    usage: 'bpfmap gen skeleton|types OBJ.o [--name NAME] [--record MAP=TYPE]… [--type TYPE]… [--import MODULE] > NAME.ts',
    about:
      "A TypeScript module for a BPF object, from its BTF: codecs and types for every struct, union, enum and typedef its maps and variables use. `skeleton` also embeds the object and exports load() returning its maps, variables and programs typed; `types` prints the codecs only. --record names a ring buffer's or perf array's record type; --type declares more types.",
    examples: [
      'bpfmap gen skeleton counter.bpf.o > counter.ts',
      'bpfmap gen skeleton trace.bpf.o --record events="struct event"',
      'bpfmap gen types counter.bpf.o > counter-types.ts',
    ],
  },
  watch: {
    usage: 'bpfmap watch MAP [--interval S] [--sort FIELD] [--count N]',
    about:
      'A live view of the entries, refreshed in place, with per-second rates of numeric fields and a sparkline per entry. q or Ctrl-C quits.',
    examples: ['bpfmap watch name flows', 'bpfmap watch id 42 --interval 0.5 --sort packets'],
  },
};

export function usage(): string {
  const lines = [
    'usage: bpfmap VERB MAP … [--json]',
    '',
    "MAP is  id N  |  pinned PATH  |  name NAME.  bpftool's spelling works too: bpfmap map dump id 3",
    'Keys and values:  key 0x01 0x00 …  |  key hex 01 00 …  |  --key-int N  |  --key JSON (maps with BTF); the same for value',
    '',
    'verbs:',
    ...Object.entries(VERBS).map(([v, h]) => `  ${v.padEnd(10)} ${h.about}`),
    '',
    '--json prints what bpftool -j prints; --pretty indents it.',
    'bpfmap VERB --help shows examples. Exit codes: 0 ok, 1 failure (the reason on stderr), 2 usage error.',
  ];
  return lines.join('\n');
}

export function verbHelp(verb: string): string {
  // `help constructor` must not find Object.prototype's members.
  const h = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!h) return usage();
  const json = h.usage.includes('--json') ? ['', '--json prints what bpftool -j prints; --pretty indents it.'] : [];
  return [`usage: ${h.usage}`, '', h.about, ...json, '', 'examples:', ...h.examples.map((e) => `  ${e}`)].join('\n');
}
