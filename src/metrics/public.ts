/**
 * The package's public surface as metrics/ uses it, handed over by src/index.ts when the package
 * loads. metrics/ uses only what users get from `'bpfmap'`; it cannot import the entry at run time
 * because the entry re-exports `registerMapMetrics` (API.md §11) and the layers have no cycles
 * (scripts/layers.mjs): it imports the entry for types only and receives the values here.
 */
import type { BpfError, BpfMap, errnoName, listMaps, possibleCpus, readBtf } from '../index.js';

/** The public functions and classes metrics/ calls. */
export interface PublicApi {
  BpfMap: typeof BpfMap;
  BpfError: typeof BpfError;
  listMaps: typeof listMaps;
  possibleCpus: typeof possibleCpus;
  readBtf: typeof readBtf;
  errnoName: typeof errnoName;
}

let provided: PublicApi | undefined;

/** Called once by src/index.ts with the package's own exports. */
export function providePublicApi(api: PublicApi): void {
  provided = api;
}

/** The public surface. @throws {Error} when metrics/ was loaded without the package entry. */
export function pub(): PublicApi {
  if (provided === undefined) throw new Error("bpfmap metrics: load it through the package entry (import from 'bpfmap')");
  return provided;
}
