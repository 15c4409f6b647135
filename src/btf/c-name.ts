/**
 * The C spelling of a BTF type, for messages and generated comments: `struct flow`, `__u32`,
 * `const char *`, `__u16[2][3]` (outer length first, as C writes it). Depth-bounded, so a cycle in
 * hostile BTF ends in `…` rather than a stack overflow.
 */
import { BtfKind } from './kinds.js';
import type { BtfType } from './parse.js';

const MAX_DEPTH = 8;

/** `typeOf(id)` returns type `id` (1-based; it may throw for an id that does not exist). */
export function cTypeName(typeOf: (id: number) => BtfType, id: number, depth = 0): string {
  if (id === 0) return 'void';
  if (depth > MAX_DEPTH) return '…';
  const t = typeOf(id);
  const inner = (to: number | undefined) => cTypeName(typeOf, to ?? 0, depth + 1);
  switch (t.kind) {
    case BtfKind.Struct:
      return `struct ${t.name || '(anon)'}`;
    case BtfKind.Union:
      return `union ${t.name || '(anon)'}`;
    case BtfKind.Enum:
    case BtfKind.Enum64:
      return `enum ${t.name || '(anon)'}`;
    case BtfKind.Array: {
      let dims = '';
      let e: BtfType = t;
      // The dimensions share the depth budget, so an array of itself ends in `…` after a few.
      let d = depth;
      for (; e.kind === BtfKind.Array && d <= MAX_DEPTH; d++) {
        dims += `[${e.nelems}]`;
        e = typeOf(e.elemType ?? 0);
      }
      return `${e.kind === BtfKind.Array ? '…' : cTypeName(typeOf, e.id, d)}${dims}`;
    }
    case BtfKind.Ptr:
      return `${inner(t.type)} *`;
    case BtfKind.Const:
      return `const ${inner(t.type)}`;
    case BtfKind.Volatile:
      return `volatile ${inner(t.type)}`;
    case BtfKind.Restrict:
    case BtfKind.TypeTag:
      return inner(t.type);
    default:
      return t.name || BtfKind[t.kind] || `kind ${t.kind}`;
  }
}
