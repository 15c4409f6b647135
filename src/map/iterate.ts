/**
 * Key iteration with get-next-key, safe against concurrent writers.
 *
 * The kernel's get-next-key restarts from the first key when the key it is
 * given has been deleted meanwhile (hash maps), so a naive walk can yield a
 * key twice or never end under churn. This walk remembers the keys it has
 * yielded (as latin1 strings, one per key) and skips them, and it gives up
 * after a bounded number of steps.
 *
 * Guarantees for one pass: no key is yielded twice; the pass ends. A key
 * present for the whole pass is yielded unless the step budget runs out
 * (then `IterationAbortedError` is thrown, never a silent truncation). A key
 * added or removed during the pass may or may not be yielded.
 */
export interface KeyWalkable {
  readonly maxEntries: number;
  getNextKey(key?: Uint8Array): Uint8Array | undefined;
}

/** A pass over a map ended early because concurrent writers kept restarting it. */
export class IterationAbortedError extends Error {
  readonly steps: number;
  constructor(steps: number) {
    super(
      `map iteration aborted after ${steps} get-next-key steps: concurrent deletes kept restarting the walk; retry, or use lookupBatch()`,
    );
    this.name = 'IterationAbortedError';
    this.steps = steps;
  }
}

/** Walks the keys of `map` with get-next-key. Several syscalls: one per key, plus restarts. */
export function* walkKeys(map: KeyWalkable): Generator<Uint8Array, void, undefined> {
  const seen = new Set<string>();
  const budget = Math.max(4 * map.maxEntries, 1024) + 64;
  let key: Uint8Array | undefined;
  for (let steps = 0; ; steps++) {
    if (steps > budget) throw new IterationAbortedError(steps);
    const next = map.getNextKey(key);
    if (next === undefined) return;
    const id = Buffer.from(next.buffer, next.byteOffset, next.length).toString('latin1');
    key = next;
    if (seen.has(id)) continue;
    seen.add(id);
    yield next;
  }
}
