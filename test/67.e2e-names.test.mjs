// ELF names that are Object.prototype members (a map __proto__, a variable toString, programs valueOf
// and hasOwnProperty, a section constructor) are ordinary names: openObject used to refuse the object
// ("two global variables are named toString") because its name tables inherited Object.prototype.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ObjectError, loadObject, openObject } from 'bpfmap';
import { buildBpf } from './fixtures/e2e/build.mjs';

const PROTO = '__proto__'; // a map's name, read as an own property

test('openObject: names like __proto__, toString, valueOf are the object’s own; section constructor is unknown', () => {
  const spec = openObject(buildBpf('proto_names'));
  assert.deepEqual(Object.keys(spec.maps).sort(), ['.rodata', '__proto__']);
  assert.deepEqual(Object.keys(spec.programs).sort(), ['hasOwnProperty', 'valueOf']);
  assert.deepEqual(Object.keys(spec.variables), ['toString']);
  assert.equal(spec.programs.valueOf.section, 'constructor');
  assert.equal(spec.maps.constructor, undefined);
  // The unknown section is named when the program would load.
  assert.throws(
    () => loadObject(buildBpf('proto_names')),
    (e) => e instanceof ObjectError && /constructor follows no known convention/.test(e.message),
  );
});

test('loadObject: options keyed by those names reach them; a prototype name that is not in the object is refused', (t) => {
  const obj = loadObject(buildBpf('proto_names'), { variables: { toString: 5 }, programs: { valueOf: { autoload: false } } });
  t.after(() => obj.close());
  assert.equal(obj.variables.toString.get(), 5);
  assert.equal(obj.programs.hasOwnProperty.testRun({ data: new Uint8Array(64) }).retval, 2);
  assert.equal(Buffer.from(obj.maps[PROTO].lookup(new Uint8Array(4))).readBigUInt64LE(), 5n);
  assert.equal(obj.programs.valueOf, undefined);
  assert.throws(
    () => loadObject(buildBpf('proto_names'), { variables: { constructor: 1 } }),
    /no global variable is named constructor/,
  );
  assert.throws(
    () => loadObject(buildBpf('proto_names'), { maps: { constructor: {} }, programs: { valueOf: { autoload: false } } }),
    /no map is named constructor/,
  );
});
