import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackendInfo } from '../backend/backend.js';
import { validateConfig } from '../config/validate.js';
import type { StrategySpec } from '../config/schema.js';
import { Registry } from '../di/registry.js';
import { CompositionError, ConfigError } from '../errors.js';
import type { Facet, FacetName } from '../facets/facet.js';
import { FacetRegistry } from '../facets/facet-registry.js';
import { planStrategy } from './plan.js';
import type { Strategy } from './strategy.js';

const backend: BackendInfo = { name: 'test', flavour: 'test', description: '', capabilities: new Set(), details: {} };

function facet(kind: FacetName, name: string): Facet & { featureBits: number } {
  const f = { facet: kind, name, description: name, requires: [], featureBits: 0 };
  return kind === 'interrupt' ? Object.assign(f, { irqLine: () => ({ raise() {}, lower() {} }) }) : f;
}

function base(): Strategy {
  return {
    name: 'base', description: 'a base',
    cpu: facet('cpu', 'c0') as Strategy['cpu'], memory: facet('memory', 'm0') as Strategy['memory'],
    interrupt: facet('interrupt', 'i0') as Strategy['interrupt'], timer: facet('timer', 't0') as Strategy['timer'],
    io: facet('io', 'o0') as Strategy['io'],
  };
}

function registries() {
  const strategies = new Registry<Strategy, [BackendInfo]>('strategy');
  strategies.register('base', 'a base', base);
  const facets = new FacetRegistry();
  facets.register('timer', 't1', 'another timer', () => facet('timer', 't1') as Strategy['timer']);
  facets.register('interrupt', 'i1', 'another interrupt', () => facet('interrupt', 'i1') as Strategy['interrupt']);
  return { strategies, facets };
}

/** A module file in a temporary directory; returns the directory. */
function moduleDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyvisor-plan-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const FACET_SRC = (kind: string, name: string) =>
  `{ facet: '${kind}', name: '${name}', description: 'from a module', requires: [], featureBits: 0${kind === 'interrupt' ? ', irqLine: () => ({ raise() {}, lower() {} })' : ''} }`;

function spec(strategy: unknown, dir = os.tmpdir()): StrategySpec | string {
  return validateConfig({ strategy, guest: { kernel: 'k' } }, { baseDir: dir, file: 'vm.yaml' }).strategy;
}

test('a name plans the registered strategy', (t) => {
  const { strategies, facets } = registries();
  const p = planStrategy('base', strategies, facets);
  t.is(p.name, 'base');
  t.is(p.create(backend).timer.name, 't0');
});

test('{ base, timer } replaces that facet by implementation name and keeps the others', (t) => {
  const { strategies, facets } = registries();
  const p = planStrategy(spec({ base: 'base', timer: 't1', interrupt: 'i1' }), strategies, facets);
  t.is(p.name, 'base+interrupt=i1+timer=t1');
  const s = p.create(backend);
  t.is(s.name, 'base+interrupt=i1+timer=t1');
  t.deepEqual([s.cpu.name, s.memory.name, s.interrupt.name, s.timer.name, s.io.name], ['c0', 'm0', 'i1', 't1', 'o0']);
  t.not(p.create(backend).timer, s.timer, 'fresh facets per machine');
});

test('an unknown base, an unknown facet name and a facet of the wrong kind are one-line config errors', (t) => {
  const { strategies, facets } = registries();
  const e1 = t.throws(() => planStrategy(spec({ base: 'nope' }), strategies, facets), { instanceOf: ConfigError });
  t.is(e1!.message, "vm.yaml: strategy.base: unknown strategy 'nope'; known: base");
  const e2 = t.throws(() => planStrategy(spec({ base: 'base', timer: 'turbo' }), strategies, facets), { instanceOf: ConfigError });
  t.is(e2!.message, "vm.yaml: strategy.timer: unknown timer facet 'turbo'; known: t1");
  const e3 = t.throws(() => planStrategy(spec({ base: 'base', interrupt: 't1' }), strategies, facets), { instanceOf: ConfigError });
  t.is(e3!.message, "vm.yaml: strategy.interrupt: 't1' is a timer facet, not an interrupt facet; known interrupt facets: i1");
});

test('a third-party facet module replaces a facet (ES module, named export)', (t) => {
  const dir = moduleDir({ 'my-facet.mjs': `export function createFacet(backend) { return { ...${FACET_SRC('interrupt', 'mine')}, backendSeen: backend.name }; }\n` });
  const { strategies, facets } = registries();
  const p = planStrategy(spec({ base: 'base', interrupt: { module: './my-facet.mjs', export: 'createFacet' } }, dir), strategies, facets);
  t.is(p.name, 'base+interrupt=my-facet.mjs#createFacet');
  const s = p.create(backend);
  t.is(s.interrupt.name, 'mine');
  t.is((s.interrupt as unknown as { backendSeen: string }).backendSeen, 'test');
});

test('a third-party strategy module (default export, CommonJS too) is the base', (t) => {
  const strategySrc = `(backend) => ({ name: 'mod', description: 'a module strategy', cpu: ${FACET_SRC('cpu', 'c')}, memory: ${FACET_SRC('memory', 'm')}, interrupt: ${FACET_SRC('interrupt', 'i')}, timer: ${FACET_SRC('timer', 't')}, io: ${FACET_SRC('io', 'o')} })`;
  const dir = moduleDir({ 'esm.mjs': `export default ${strategySrc};\n`, 'cjs.cjs': `module.exports = ${strategySrc};\n` });
  const { strategies, facets } = registries();
  for (const file of ['./esm.mjs', './cjs.cjs']) {
    const s = planStrategy(spec({ module: file, timer: 't1' }, dir), strategies, facets).create(backend);
    t.is(s.name, 'mod+timer=t1', file);
    t.is(s.cpu.name, 'c');
    t.is(s.timer.name, 't1');
  }
});

test('module errors: not found, export missing, not a function, not a facet, wrong kind, factory throws', (t) => {
  const dir = moduleDir({
    'f.mjs': `export const notFn = 3;\nexport function timerFacet() { return ${FACET_SRC('timer', 'tt')}; }\nexport function junk() { return { hello: 1 }; }\nexport function boom() { throw new Error('no hardware'); }\n`,
    'tla.mjs': 'await Promise.resolve();\nexport default () => ({});\n',
  });
  const { strategies, facets } = registries();
  const plan = (v: unknown) => planStrategy(spec(v, dir), strategies, facets);
  t.throws(() => spec({ base: 'base', timer: { module: './missing.js' } }, dir), { instanceOf: ConfigError, message: /^vm\.yaml: strategy\.timer\.module: module not found: "\.\/missing\.js"/ });
  t.throws(() => plan({ base: 'base', timer: { module: './f.mjs', export: 'nope' } }), { instanceOf: ConfigError, message: /strategy\.timer\.export: .*f\.mjs has no export 'nope' \(it exports: boom, junk, notFn, timerFacet\)/ });
  t.throws(() => plan({ base: 'base', timer: { module: './f.mjs' } }), { instanceOf: ConfigError, message: /has no export 'default'/ });
  t.throws(() => plan({ base: 'base', timer: { module: './f.mjs', export: 'notFn' } }), { instanceOf: ConfigError, message: /'notFn' of .* is a number, expected a facet factory/ });
  t.throws(() => plan({ base: 'base', timer: { module: './f.mjs', export: 'junk' } }).create(backend), { instanceOf: ConfigError, message: /strategy\.timer: f\.mjs#junk did not return a usable timer facet: expected an object with facet/ });
  t.throws(() => plan({ base: 'base', interrupt: { module: './f.mjs', export: 'timerFacet' } }).create(backend), { instanceOf: ConfigError, message: /it is a timer facet \('tt'\), not an interrupt facet/ });
  t.throws(() => plan({ base: 'base', timer: { module: './f.mjs', export: 'boom' } }).create(backend), { instanceOf: CompositionError, message: /the factory of f\.mjs#boom failed: no hardware/ });
  t.throws(() => plan({ module: './tla.mjs' }), { instanceOf: ConfigError, message: /uses top-level await/ });
  t.throws(() => plan({ module: './f.mjs', export: 'junk' }).create(backend), { instanceOf: ConfigError, message: /strategy\.module: f\.mjs#junk did not return a strategy: it has no name/ });
});
