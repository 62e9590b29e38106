/**
 * `@hyvisor/backend-kvm/testing`: the one gate for tests that need `/dev/kvm`, for this
 * repository's tests and for plugin authors who test on KVM.
 *
 * A test that needs KVM still runs where KVM is missing: it logs `skipped: <why>` and passes, so
 * the reason shows in the test output instead of a silent skip, and its title carries `[kvm]`
 * (the project's marker for tests that need /dev/kvm). Declares ava tests: import it from test
 * files only, in a project that has ava installed (it is not a dependency of this package).
 * @packageDocumentation
 */
import test, { type ExecutionContext } from 'ava';
import { kvmAvailable, type KvmAvailability } from '../host.js';

export type { KvmAvailability } from '../host.js';

let checked: KvmAvailability | undefined;

/**
 * Whether KVM is usable here, and if not why: the addon loads and /dev/kvm opens with API
 * version 12. Checked once per process.
 */
export function kvm(): KvmAvailability {
  checked ??= kvmAvailable();
  return checked;
}

/** What else a KVM test needs besides /dev/kvm. */
export interface KvmTestOptions {
  /** Run serially with the file's other serial tests (for tests that count process-wide resources or share a guest). */
  readonly serial?: boolean;
  /** Another prerequisite: returns why the test cannot run (e.g. a guest image not built), or undefined. */
  readonly needs?: () => string | undefined;
}

/**
 * Logs `skipped: <why>` and passes `t` unless KVM (and `needs`) are there; returns whether the
 * test may go on. For tests that decide inside (one title for both backends, a loop of cases).
 */
export function requireKvm(t: ExecutionContext, needs?: () => string | undefined): boolean {
  const why = !kvm().ok ? kvm().reason : needs?.();
  if (why === undefined) return true;
  t.log(`skipped: ${why}`);
  t.pass();
  return false;
}

/** The title a KVM test gets: `title` with ` [kvm]` appended unless it already has it. */
export function kvmTitle(title: string): string {
  return title.includes('[kvm]') ? title : `${title} [kvm]`;
}

/**
 * Declares a test that needs /dev/kvm (title marked `[kvm]`). Without KVM it logs why it did
 * nothing and passes.
 */
export function kvmTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>, options: KvmTestOptions = {}): void {
  const declare = options.serial === true ? test.serial : test;
  declare(kvmTitle(title), async (t) => {
    if (!requireKvm(t, options.needs)) return;
    await fn(t);
  });
}

/** {@link kvmTest} with `serial: true`. */
export function kvmSerialTest(title: string, fn: (t: ExecutionContext) => void | Promise<void>, options: Omit<KvmTestOptions, 'serial'> = {}): void {
  kvmTest(title, fn, { ...options, serial: true });
}
