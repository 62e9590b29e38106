/**
 * Helpers the hostile-guest tests share: a `[kvm]` test that skips with the reason where
 * `/dev/kvm` is missing, and the RSS bound every run must stay under.
 * @module
 */
import test, { type ExecutionContext } from 'ava';
import { requireKvm } from '@hyvisor/backend-kvm/testing';

/** Resident memory a hostile run may reach (the whole test process, 64 MiB of guest RAM included). */
export const RSS_BOUND = 400 * 1024 * 1024;

/** Both backends: the emulator always; KVM where `/dev/kvm` works (the title gets `[kvm]`). */
export function onBothBackends(title: string, fn: (t: ExecutionContext, backend: 'emu' | 'kvm') => Promise<void>): void {
  test.serial(`${title} (emulator)`, (t) => fn(t, 'emu'));
  test.serial(`${title} [kvm]`, async (t) => {
    if (requireKvm(t)) await fn(t, 'kvm');
  });
}
