import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';
import { validateConfig } from './validate.js';

const guest = { kernel: '/guests/k.elf' };

function fails(t: import('ava').ExecutionContext, strategy: unknown, message: RegExp, baseDir = os.tmpdir()): void {
  const err = t.throws(() => validateConfig({ strategy, guest }, { file: 'vm.yaml', baseDir }), { instanceOf: ConfigError });
  t.regex(err!.message, message);
  t.false(err!.message.includes('\n'), 'one line');
}

test('strategy as a name stays a name (as `hyvisor run --strategy` sets it)', (t) => {
  t.is(validateConfig({ strategy: 'hybrid', guest }).strategy, 'hybrid');
  t.is(validateConfig({ guest }).strategy, 'minimal');
});

test('strategy as { base, facet: name } keeps the base and the named facets', (t) => {
  t.deepEqual(validateConfig({ strategy: { base: 'hybrid', timer: 'emulated-pit' }, guest }, { file: 'vm.yaml' }).strategy, {
    base: 'hybrid', facets: { timer: 'emulated-pit' }, source: 'vm.yaml',
  });
});

test('module paths are resolved against the config file, export defaults to default', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-strategy-'));
  fs.writeFileSync(path.join(dir, 'my-strategy.mjs'), 'export default () => ({});\n');
  fs.writeFileSync(path.join(dir, 'my-facet.mjs'), 'export const createFacet = () => ({});\n');
  fs.writeFileSync(path.join(dir, 'vm.yaml'), '');
  const c = validateConfig(
    { strategy: { base: 'hvm', interrupt: { module: './my-facet.mjs', export: 'createFacet' } }, guest },
    { file: path.join(dir, 'vm.yaml') },
  );
  t.deepEqual((c.strategy as { facets: unknown }).facets, { interrupt: { module: path.join(dir, 'my-facet.mjs'), export: 'createFacet' } });
  const m = validateConfig({ strategy: { module: './my-strategy.mjs' }, guest }, { baseDir: dir });
  t.deepEqual((m.strategy as { base: unknown }).base, { module: path.join(dir, 'my-strategy.mjs'), export: 'default' });
});

test('bad strategy mappings are one-line errors naming the field', (t) => {
  fails(t, 5, /^vm\.yaml: strategy: expected a strategy name \(e\.g\. hybrid\) or a mapping/);
  fails(t, '', /strategy: expected a strategy name/);
  fails(t, { timer: 'pvclock' }, /strategy: missing base/);
  fails(t, { base: 'hvm', module: './x.js' }, /strategy: give base .* or module .*, not both/);
  fails(t, { base: 'hvm', timers: 'pvclock' }, /strategy\.timers: unknown field; did you mean strategy\.timer\?/);
  fails(t, { base: 'hvm', export: 'f' }, /strategy\.export: only goes with module/);
  fails(t, { base: 3 }, /strategy\.base: expected a strategy name like "hybrid", got 3/);
  fails(t, { base: 'hvm', timer: 7 }, /strategy\.timer: expected a facet implementation name or a mapping with module and export, got 7/);
  fails(t, { base: 'hvm', timer: { export: 'f' } }, /strategy\.timer\.module: missing/);
  fails(t, { base: 'hvm', timer: { module: './x.js', exprt: 'f' } }, /strategy\.timer\.exprt: unknown field; did you mean strategy\.timer\.export\?/);
  fails(t, { base: 'hvm', timer: { module: './x.js', export: 'not a name' } }, /strategy\.timer\.export: expected the name of an exported factory/);
  fails(t, { base: 'hvm', timer: { module: './no-such-module.js' } }, /strategy\.timer\.module: module not found: "\.\/no-such-module\.js" \(relative paths are resolved against /);
});
