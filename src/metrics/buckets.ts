/**
 * Histogram buckets from kernel-side slots: the `le` bound of each slot, and the cumulative counts
 * Prometheus wants (missing slots count 0; slots past the last bound count only in `+Inf`).
 */
import type { BucketConfig } from './config.js';

/** The default highest slot of a slot-in-the-key histogram: enough for any u64 value. */
export const DEFAULT_MAX_SLOT = 63;

/**
 * The `le` bound of each exported slot, in slot order.
 * - exp2: slot i → 2^i × multiplier (bcc: slot 0 counts 0, slot 1 counts 1, slot i counts [2^(i-1), 2^i));
 * - exp2zero: slot 0 → 0, slot i → 2^(i-1) × multiplier;
 * - linear: slot i → (min + i × step) × multiplier, up to max.
 * `slots`: how many slots an array value has (undefined for a slot-in-the-key histogram).
 */
export function bucketBounds(b: BucketConfig, slots: number | undefined): number[] {
  const m = b.multiplier ?? 1;
  // 12 significant digits: 0.1 × 3 is exported as 0.3, not 0.30000000000000004.
  const at = (x: number) => Number((x * m).toPrecision(12));
  if (b.type === 'linear') {
    const min = b.min as number;
    const step = b.step as number;
    let n = Math.floor(((b.max as number) - min) / step + 1e-9) + 1;
    if (slots !== undefined) n = Math.min(n, slots);
    return Array.from({ length: n }, (_, i) => at(min + i * step));
  }
  const last = Math.min(
    b.maxSlot ?? (slots === undefined ? DEFAULT_MAX_SLOT : slots - 1),
    slots === undefined ? 4096 : slots - 1,
  );
  const out: number[] = [];
  for (let i = 0; i <= last; i++) out.push(at(b.type === 'exp2' ? 2 ** i : i === 0 ? 0 : 2 ** (i - 1)));
  return out;
}

/** Turns per-slot counts into cumulative bucket counts (in place) and returns the total. */
export function cumulate(counts: Float64Array, bounds: number): number {
  let acc = 0;
  for (let i = 0; i < bounds; i++) {
    acc += counts[i] as number;
    counts[i] = acc;
  }
  for (let i = bounds; i < counts.length; i++) acc += counts[i] as number;
  return acc;
}
