/**
 * Services: what the facets of one machine hand each other. A facet declares the services it
 * *provides* and *needs* as typed {@link ServiceToken}s (static metadata, see {@link FacetInfo});
 * {@link assertComposable} checks needs against provides before the machine is built, and at
 * attach time each facet provides its services into, and takes what it needs from, the machine's
 * own {@link ServiceScope} (a tsyringe child container of the composition's container).
 *
 * Why not names: a rule such as "pvclock needs the interrupt facet `event-channel`" refuses a
 * renamed subclass of that facet and any third-party facet that delivers events just as well. A
 * service names *what* is needed; whichever facet provides it will do.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
// Through di/tsyringe.ts: it loads reflect-metadata first, with require (see there why).
import { rootContainer } from '../di/tsyringe.js';
import { WiringError } from '../errors.js';
import type { Disposable } from '../lifecycle/disposable.js';
import type { MachineContext } from './facet.js';

/**
 * A typed service identifier. `T` is what {@link ServiceScope.get} returns for it.
 *
 * Two tokens with the same {@link id} are the same service (their {@link key} is
 * `Symbol.for(id)`), so a third-party facet built against another copy of `@hyvisor/core` still
 * meets the built-in ones. Ids are namespaced: `hyvisor.` for core's and the strategy packages'
 * tokens, your package's name for yours.
 */
export interface ServiceToken<T> {
  /** Unique, namespaced identifier (`hyvisor.event-channels`). */
  readonly id: string;
  /** What it is, for messages and listings: `event-channel delivery`. */
  readonly description: string;
  /** The tsyringe injection token the machine scope registers it under. */
  readonly key: symbol;
  /**
   * For a service that no facet provides but any may use (per machine, made on first use): builds
   * it in the machine's scope. A need of such a service is always met. Absent: a facet of the
   * strategy must provide it.
   */
  readonly create?: (ctx: MachineContext) => T;
  /** Type marker only (never set): keeps `ServiceToken<A>` and `ServiceToken<B>` apart. */
  readonly __type?: (value: T) => T;
}

/** Any service token, for lists of them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyServiceToken = ServiceToken<any>;

/**
 * Defines a service token. With `create`, the service is made on first use in each machine
 * scope (and disposed with the machine if it is {@link Disposable}); without, a facet provides it.
 */
export function serviceToken<T>(id: string, description: string, create?: (ctx: MachineContext) => T): ServiceToken<T> {
  if (id === '' || description === '') throw new WiringError('serviceToken: id and description must be non-empty');
  return Object.freeze({ id, description, key: Symbol.for(id), ...(create !== undefined ? { create } : {}) });
}

/** True if `value` looks like a {@link ServiceToken} (for what a third-party module hands in). */
export function isServiceToken(value: unknown): value is AnyServiceToken {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Partial<AnyServiceToken>;
  return typeof t.id === 'string' && typeof t.description === 'string' && typeof t.key === 'symbol';
}

/** True if `list` holds `token` (compared by key, see {@link ServiceToken}). */
export function hasService(list: readonly AnyServiceToken[] | undefined, token: AnyServiceToken): boolean {
  if (list === undefined) return false;
  for (const t of list) if (t.key === token.key) return true;
  return false;
}

/** Who declared a service in a machine (for messages when it was declared but not provided). */
export interface ServiceDeclaration {
  readonly token: AnyServiceToken;
  /** `interrupt facet 'event-channel'`. */
  readonly by: string;
}

/**
 * The services of one machine: a tsyringe child container of the composition's container, so
 * what the composition registered (a shared clock, a test double, …) resolves here too, while
 * what a facet provides stays with its machine. Disposes, newest first, the services it created
 * and the disposable values provided into it.
 */
export class ServiceScope implements Disposable {
  /** The tsyringe container of this machine. */
  readonly container: DependencyContainer;
  private readonly owned: Disposable[] = [];
  private readonly declared = new Map<symbol, string>();
  private readonly creating = new Set<symbol>();
  private disposed = false;

  /**
   * @param context the machine context handed to tokens' `create` (a getter: the context usually
   *   holds this scope, so it exists only after the scope).
   * @param parent the composition's container (default: tsyringe's root container).
   */
  constructor(private readonly context: () => MachineContext, parent: DependencyContainer = rootContainer) {
    this.container = parent.createChildContainer();
  }

  /**
   * Notes that `by` (a facet) will provide `token`, so a {@link get} before it did can say who
   * should have. The machine calls it for every facet's `provides` before attaching any.
   */
  declare(token: AnyServiceToken, by: string): void {
    if (!this.declared.has(token.key)) this.declared.set(token.key, by);
  }

  /**
   * Provides `token` in this machine. Throws {@link WiringError} if this machine already has it
   * (two facets providing one service is refused by {@link assertComposable} first). A value with
   * a `dispose()` method is disposed with the machine only if `own` is true.
   */
  provide<T>(token: ServiceToken<T>, value: T, own = false): void {
    if (this.container.isRegistered(token.key, false)) {
      throw new WiringError(`service '${token.description}' (${token.id}) is provided twice in this machine`);
    }
    this.container.registerInstance(token.key, value);
    if (own && isDisposable(value)) this.owned.push(value);
  }

  /** True if this machine (or the composition's container) has `token` now, without creating it. */
  has(token: AnyServiceToken): boolean {
    return this.container.isRegistered(token.key, true);
  }

  /** The service, if provided (or registered in the composition's container); never creates one. */
  find<T>(token: ServiceToken<T>): T | undefined {
    return this.has(token) ? this.container.resolve<T>(token.key) : undefined;
  }

  /**
   * The service: provided by a facet, registered in the composition's container, or made now by
   * the token's `create`. Throws {@link WiringError} naming the service and the facet that
   * declared it (not attached yet, or it did not provide it), or saying that no facet provides it.
   */
  get<T>(token: ServiceToken<T>): T {
    if (this.has(token)) return this.container.resolve<T>(token.key);
    if (token.create !== undefined) {
      if (this.creating.has(token.key)) throw new WiringError(`service '${token.description}' (${token.id}) needs itself to be created`);
      this.creating.add(token.key);
      try {
        const value = token.create(this.context());
        this.provide(token, value, true);
        return value;
      } finally {
        this.creating.delete(token.key);
      }
    }
    const by = this.declared.get(token.key);
    throw new WiringError(by !== undefined
      ? `service '${token.description}' (${token.id}) is not available yet: ${by} provides it but has not (attach it first, or provide it in attach())`
      : `service '${token.description}' (${token.id}) is not provided by any facet of this machine`);
  }

  /** Disposes the services this scope created or was told to own, newest first. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.owned.splice(0).reverse()) d.dispose();
  }
}

function isDisposable(value: unknown): value is Disposable {
  return typeof value === 'object' && value !== null && typeof (value as { dispose?: unknown }).dispose === 'function';
}
