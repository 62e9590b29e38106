/**
 * Lifetimes after VS Code's `Disposable`: whatever holds an fd, a mapping, a timer or a
 * subscription is registered with its owner when created, and the owner releases all of it,
 * newest first.
 * @module
 */

/**
 * Something that holds a resource and releases it once. Objects a user holds (a machine, a
 * backend, a store) are also {@link ScopedDisposable}s, so `using` releases them on every path.
 */
export interface Disposable {
  dispose(): void;
}

/** A {@link Disposable} that TypeScript's `using` takes: `[Symbol.dispose]()` is `dispose()`. */
export interface ScopedDisposable extends Disposable {
  [Symbol.dispose](): void;
}

/** Wraps a release function as a {@link ScopedDisposable} that runs at most once. */
export function toDisposable(release: () => void): ScopedDisposable {
  let done = false;
  const d = {
    dispose() {
      if (done) return;
      done = true;
      release();
    },
    [Symbol.dispose]() {
      d.dispose();
    },
  };
  return d;
}

/**
 * Owns disposables and releases them in reverse order of registration. Errors from one
 * release do not stop the others; the first one is rethrown at the end.
 */
export class DisposableStore implements ScopedDisposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  /** True once {@link dispose} has run. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Registers `item`; if the store is already disposed, the item is released at once. */
  add<T extends Disposable>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  /** Registers a release function. */
  defer(release: () => void): void {
    this.add(toDisposable(release));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    let first: unknown;
    while (this.items.length > 0) {
      const item = this.items.pop()!;
      try {
        item.dispose();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
