/**
 * `bpfmap export --config FILE [--listen HOST:PORT]`: serves maps as Prometheus metrics (API.md §11).
 * Reads the YAML (or JSON) config, loads and attaches its `object` when it has one, registers the
 * metrics on a prom-client registry and serves `/metrics` (and `/`, a page listing them) until
 * SIGTERM or SIGINT. Exit codes: 0 after a signal, 1 when the config or the listen address does not
 * work (one line per problem on stderr), 2 for a usage error.
 */
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import {
  type BpfObject,
  type MapMetrics,
  type MapMetricsConfig,
  MetricsConfigError,
  loadObject,
  registerMapMetrics,
} from '../index.js';

const DEFAULT_LISTEN = '127.0.0.1:9435';

/** What `export` writes to: stderr lines (tests give their own). */
export interface ExportIo {
  log(line: string): void;
  /** Resolves when the exporter should stop (default: the first SIGTERM or SIGINT). */
  stop?: Promise<void>;
}

class ExportUsage extends Error {}

function parse(argv: readonly string[]): { config: string; host: string; port: number } | 'help' {
  let config: string | undefined;
  let listen = DEFAULT_LISTEN;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new ExportUsage(`${name} needs a value`);
      return v;
    };
    if (name === '--help' || name === '-h') return 'help';
    if (name === '--config') config = value();
    else if (name === '--listen') listen = value();
    else throw new ExportUsage(`unexpected ${JSON.stringify(a)}`);
  }
  if (config === undefined) throw new ExportUsage('--config FILE is required');
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535)
    throw new ExportUsage(`--listen takes HOST:PORT (e.g. ${DEFAULT_LISTEN}, [::1]:9435), got ${JSON.stringify(listen)}`);
  return { config, host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Reads the config file: YAML (JSON is YAML too). */
function readConfig(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  const YAML = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  try {
    return YAML.parse(text);
  } catch (err) {
    throw new MetricsConfigError([`config ${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
}

/**
 * Loads the config's `object` (a path relative to the config file) with its `variables`, and
 * attaches its programs: `loadObject(path, { variables })` then `attach()` (API.md §8, §9).
 * A failed attach closes the object again.
 */
export function loadConfiguredObject(path: string, variables: Record<string, unknown> | undefined): BpfObject {
  const obj = loadObject(path, variables ? { variables } : {});
  try {
    obj.attach();
  } catch (err) {
    obj.close();
    throw err;
  }
  return obj;
}

function page(names: readonly string[], maps: readonly string[]): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return [
    '<!doctype html><meta charset="utf-8"><title>bpfmap export</title>',
    '<h1>bpfmap export</h1><p><a href="/metrics">/metrics</a></p>',
    '<h2>Metrics</h2><ul>',
    ...names.map((n) => `<li>${esc(n)}</li>`),
    '</ul><h2>Maps</h2><ul>',
    ...maps.map((m) => `<li>${esc(m)}</li>`),
    '</ul>',
  ].join('\n');
}

/** Runs the exporter; resolves with the exit code. */
export async function exportVerb(
  argv: readonly string[],
  io: ExportIo = { log: (l) => process.stderr.write(`${l}\n`) },
): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof ExportUsage)) throw err;
    io.log(`bpfmap export: ${err.message}\nusage: bpfmap export --config FILE [--listen HOST:PORT]`);
    return 2;
  }
  if (args === 'help') {
    const { verbHelp } = await import('./help.js');
    process.stdout.write(`${verbHelp('export')}\n`);
    return 0;
  }
  const { Registry } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  let object: BpfObject | undefined;
  let metrics: MapMetrics | undefined;
  const fail = (err: unknown): number => {
    const lines = err instanceof MetricsConfigError ? err.problems : [(err as Error).message?.split('\n')[0] ?? String(err)];
    for (const l of lines) io.log(`bpfmap export: ${l}`);
    metrics?.close();
    object?.close();
    return 1;
  };
  const registry = new Registry();
  try {
    const config = readConfig(args.config) as MapMetricsConfig;
    if (config && typeof config === 'object' && typeof config.object === 'string')
      object = loadConfiguredObject(resolve(dirname(args.config), config.object), config.variables);
    metrics = registerMapMetrics(registry, config, {
      ...(object ? { object } : {}),
      onProblem: (l) => io.log(`bpfmap export: ${l}`),
    });
  } catch (err) {
    return fail(err);
  }
  const served = metrics;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: Error) => {
          io.log(`bpfmap export: /metrics failed: ${err.message}`);
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
        },
      );
    } else if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(served.names, served.maps));
    } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
  });
  try {
    await new Promise<void>((ok, no) => {
      server.once('error', no);
      server.listen(args.port, args.host, () => {
        server.off('error', no);
        ok();
      });
    });
  } catch (err) {
    return fail(new Error(`cannot listen on ${args.host}:${args.port}: ${(err as Error).message}`));
  }
  server.on('error', (err) => io.log(`bpfmap export: ${err.message}`));
  const where = server.address();
  const shown =
    typeof where === 'object' && where
      ? `${where.family === 'IPv6' ? `[${where.address}]` : where.address}:${where.port}`
      : String(where);
  io.log(`bpfmap export: serving ${served.names.length} metrics from ${served.maps.length} maps at http://${shown}/metrics`);
  const stop =
    io.stop ??
    new Promise<void>((ok) => {
      const on = (sig: NodeJS.Signals) => {
        process.off('SIGTERM', on);
        process.off('SIGINT', on);
        io.log(`bpfmap export: ${sig}: stopping`);
        ok();
      };
      process.on('SIGTERM', on);
      process.on('SIGINT', on);
    });
  await stop;
  await new Promise<void>((ok) => {
    server.close(() => ok());
    server.closeAllConnections();
  });
  served.close();
  object?.close();
  return 0;
}
