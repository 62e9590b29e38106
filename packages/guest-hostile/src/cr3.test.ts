/**
 * The stale-CR3 hole (issue 15 §1) and its variants, as hostile guests under `pv`: refused at the
 * first step that would leave CR3 holding an unvalidated table. On the emulator the guest's own
 * CR3 loads are checked too; on KVM (cooperative there) only the hypercalls are.
 */
import test from 'ava';
import { runHostile } from './index.js';
import { onBothBackends } from './testing.js';

test.serial('the 4-step stale-CR3 attack is refused on the emulator: CR3 follows NEW_BASEPTR, a table in CR3 cannot be unpinned, released or redeclared', async (t) => {
  const r = await runHostile({ guest: 'cr3-attack', strategy: 'pv', arg: 1 });
  t.is(r.result.reason, 'exit-code', r.result.message);
  t.is(r.result.exitCode, 0, 'the number of the check that failed (see cr3-attack.S)');
  t.is(r.counters['pv.mmu.cr3_refused'], 4, 'three loads of tables that are no pinned L4, and A once it is an L1');
});

onBothBackends('the stale-CR3 attack: every hypercall step is refused on both backends', async (t, backend) => {
  const r = await runHostile({ guest: 'cr3-attack', strategy: 'pv', backend, arg: backend === 'emu' ? 1 : 0 });
  t.is(r.result.reason, 'exit-code', r.result.message);
  t.is(r.result.exitCode, 0);
});
