/**
 * tsyringe (and the `reflect-metadata` polyfill it needs first), loaded with `require`. Both are
 * CommonJS; an ESM `import` of CommonJS makes Node scan the source for its exports, which on this
 * host cost ~85 ms of CPU at start against ~35 ms through `require` (same modules, same
 * instances: both paths share Node's CommonJS cache). Import tsyringe's values from here, its
 * types from `tsyringe` (`import type`).
 * @module
 */
import { createRequire } from 'node:module';
import type * as Tsyringe from 'tsyringe';

const require = createRequire(import.meta.url);
require('reflect-metadata');
const tsyringe = require('tsyringe') as typeof Tsyringe;

/** tsyringe's root container. */
export const rootContainer: Tsyringe.DependencyContainer = tsyringe.container;
