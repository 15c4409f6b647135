#!/usr/bin/env node
// The `bpfmap` executable (package.json "bin"): see main.ts.
import { main } from './main.js';

// A reader that went away (`bpfmap dump … | head -1`) ends the command quietly, as other Unix tools do.
const quietOnEpipe = (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
};
process.stdout.on('error', quietOnEpipe);

process.exitCode = await main(process.argv.slice(2));
