/**
 * Global-data maps (`.bss`, `.data`, `.rodata`): one array entry holding the
 * whole section. `update --value '{"my_pid":123}'` names only the variables
 * to change; the others keep what the map holds now.
 */
import type { BpfMap, Codec } from '../index.js';

export function isDatasec(codec: Codec<unknown> | undefined): boolean {
  return (codec as { datasec?: boolean } | undefined)?.datasec === true;
}

/** `given` over the section's current variables (entry 0), so unnamed variables are kept. */
export function mergeSection(map: BpfMap, codec: Codec<unknown>, given: unknown): unknown {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return given;
  const now = map.lookup(new Uint8Array(map.keySize));
  if (!(now instanceof Uint8Array)) return given;
  return { ...(codec.decode(now) as Record<string, unknown>), ...given };
}
