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

// Written as `createRequire(import.meta.url)('name')` so the CLI's bundle (scripts/bundle-cli.mjs) finds and includes them.
createRequire(import.meta.url)('reflect-metadata');
const tsyringe = createRequire(import.meta.url)('tsyringe') as typeof Tsyringe;

/** tsyringe's root container. */
export const rootContainer: Tsyringe.DependencyContainer = tsyringe.container;
