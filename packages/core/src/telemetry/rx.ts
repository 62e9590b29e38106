/**
 * rxjs, loaded on first use. Its CommonJS build is ~220 modules, ~90 ms of CPU to load on the
 * project's host (as much as Node's own start); a run that nobody watches never subscribes, so it
 * never pays for them. Node resolves
 * `rxjs` to the same CommonJS file for `import` and `require`, so the classes are the ones a
 * subscriber imports.
 * @module
 */
import { createRequire } from 'node:module';
import type * as Rx from 'rxjs';

let rx: typeof Rx | undefined;

/** The rxjs module (required synchronously the first time). */
export function rxjs(): typeof Rx {
  return (rx ??= createRequire(import.meta.url)('rxjs') as typeof Rx);
}
