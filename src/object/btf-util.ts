/**
 * Small BTF questions the object loader asks of an object's own BTF: look
 * through modifiers, find a DATASEC, the alignment of a type.
 */
import { ObjectError } from '../elf/error.js';
import { BtfKind } from '../btf/kinds.js';
import type { BtfType } from '../btf/parse.js';

const MODIFIERS = new Set([BtfKind.Typedef, BtfKind.Const, BtfKind.Volatile, BtfKind.Restrict, BtfKind.TypeTag]);

/** The type `id` (1-based) or an `ObjectError` naming what referred to it. */
export function typeAt(types: readonly BtfType[], id: number, what: string): BtfType {
  const t = types[id - 1];
  if (t === undefined || id <= 0)
    throw new ObjectError(`${what} refers to BTF type ${id}, but the object's BTF has types 1 to ${types.length}`, {
      section: '.BTF',
    });
  return t;
}

/** Looks through typedef/const/volatile/restrict/type tags; returns the id reached. */
export function skipModifiers(types: readonly BtfType[], id: number, what: string): number {
  for (let n = 0; n <= types.length; n++) {
    if (id === 0) return 0;
    const t = typeAt(types, id, what);
    if (!MODIFIERS.has(t.kind)) return id;
    id = t.type ?? 0;
  }
  throw new ObjectError(`${what}: a cycle of typedefs and modifiers in the BTF`, { section: '.BTF' });
}

/** Alignment in bytes of type `id`, as the C ABI of BPF lays it out. */
export function alignOf(types: readonly BtfType[], id: number, what: string, depth = 0): number {
  if (depth > 64) throw new ObjectError(`${what}: types nest too deep`, { section: '.BTF' });
  const t = typeAt(types, skipModifiers(types, id, what), what);
  switch (t.kind) {
    case BtfKind.Int:
    case BtfKind.Enum:
    case BtfKind.Enum64:
    case BtfKind.Float:
      return Math.min(Math.max(t.size ?? 1, 1), 8);
    case BtfKind.Ptr:
      return 8;
    case BtfKind.Array:
      return alignOf(types, t.elemType ?? 0, what, depth + 1);
    case BtfKind.Struct:
    case BtfKind.Union: {
      let a = 1;
      for (const m of t.members ?? []) a = Math.max(a, alignOf(types, m.type, what, depth + 1));
      return a;
    }
    default:
      throw new ObjectError(`${what}: ${BtfKind[t.kind] ?? t.kind} has no alignment`, { section: '.BTF' });
  }
}

/** The DATASEC named `name`, or undefined. */
export function findDatasec(types: readonly BtfType[], name: string): BtfType | undefined {
  return types.find((t) => t.kind === BtfKind.Datasec && t.name === name);
}
