/**
 * The `bpfmap` command: bpftool's map verbs on the library. Exit codes: 0 ok,
 * 1 a failure (one line on stderr with the library's message), 2 a usage
 * error (with the verb's usage).
 */
import { BpfError, ObjectError } from '../index.js';
import { UsageError, Words, parseArgv } from './args.js';
import { usage, verbHelp } from './help.js';
import { CliError } from './maps.js';
import { printable } from './output.js';

export async function main(
  argv: readonly string[],
  io = { out: (s: string) => process.stdout.write(`${s}\n`) },
): Promise<number> {
  let verb: string | undefined;
  // `export` takes its own options (--config, --listen) and runs until a signal: see export.ts.
  if (argv[0] === 'export') return (await import('./export.js')).exportVerb(argv.slice(1));
  try {
    if (argv[0] === 'gen' && !argv.includes('--help') && !argv.includes('-h'))
      return (await import('./gen.js')).gen(argv.slice(1), io.out);
    const p = parseArgv(argv);
    // bpftool's spelling: the object word first (`map dump id 3`); `map` alone is our default object.
    if (p.words[0] === 'map' && p.words.length > 1) p.words.shift();
    verb = p.words[0];
    if (verb === 'prog' || verb === 'link') {
      if (p.help) {
        io.out(verbHelp(verb));
        return 0;
      }
      if (verb === 'link') (await import('./links.js')).linkVerb(new Words(p.words.slice(1), verb), p, io);
      else (await import('./progs.js')).objectVerb(verb, new Words(p.words.slice(1), verb), p, io);
      return 0;
    }
    if (verb === undefined || verb === 'help') {
      io.out(p.words[1] ? verbHelp(p.words[1]) : usage());
      return p.help || verb === 'help' ? 0 : 2;
    }
    if (p.help) {
      io.out(verbHelp(verb));
      return 0;
    }
    if (verb === 'event_pipe') {
      const { eventPipe } = await import('./event-pipe.js');
      return await eventPipe(new Words(p.words.slice(1), verb), p);
    }
    if (verb === 'watch') {
      const { watch } = await import('./watch.js');
      return await watch(new Words(p.words.slice(1), verb), p);
    }
    const { VERB_FNS } = await import('./verbs.js');
    const fn = Object.hasOwn(VERB_FNS, verb) ? VERB_FNS[verb] : undefined; // not `bpfmap constructor` → Object()
    if (!fn) throw new UsageError(`unknown verb ${JSON.stringify(verb)}`);
    await fn(new Words(p.words.slice(1), verb), p, io);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException | null)?.code === 'EPIPE') return 0; // the reader went away: not a failure
    if (err instanceof UsageError) {
      process.stderr.write(
        `bpfmap: ${printable(err.message)}\n${err.verb ? verbHelp(err.verb).split('\n')[0] : 'run bpfmap --help for the verbs'}\n`,
      );
      return 2;
    }
    if (
      err instanceof CliError ||
      err instanceof BpfError ||
      err instanceof ObjectError ||
      err instanceof TypeError ||
      err instanceof RangeError
    ) {
      process.stderr.write(`bpfmap: ${printable(err.message.split('\n')[0] as string)}\n`);
      return 1;
    }
    process.stderr.write(`bpfmap: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
