/**
 * What `pnpm mutation` mutates, one entry per component: the source files StrykerJS mutates, the
 * package to rebuild after instrumenting them, and the compiled test files that judge each mutant.
 * Kept small on purpose: every mutant runs its target's test command once (ava, no coverage
 * analysis), so the tests named here are only the ones that exercise these files.
 * `env`: variables the test command runs with (the PV MMU's property tests at a tenth of their
 * seeds: at full size they cost ~50 s a mutant).
 * Ordered smallest first.
 */
export const TARGETS = [
  {
    name: 'uart',
    package: 'devices',
    mutate: ['packages/devices/src/uart/uart16550.ts'],
    tests: ['packages/devices/dist/uart/uart16550.test.js', 'packages/devices/dist/uart/serial-io.test.js', 'packages/devices/dist/state.test.js'],
  },
  {
    name: 'pv-mmu',
    package: 'strategy-pv',
    mutate: ['packages/strategy-pv/src/mmu/pte.ts', 'packages/strategy-pv/src/mmu/direct-paging.ts'],
    tests: ['packages/strategy-pv/dist/mmu/direct-paging.test.js'],
    env: { HYVISOR_PROPERTY_SCALE: '0.1' },
  },
  {
    name: 'pv-evtchn',
    package: 'strategy-pv',
    mutate: ['packages/strategy-pv/src/evtchn/event-channels.ts', 'packages/strategy-pv/src/evtchn/shared-info.ts'],
    tests: ['packages/strategy-pv/dist/evtchn/event-channels.test.js'],
  },
  {
    name: 'emu-alu-flags',
    package: 'backend-emu',
    mutate: ['packages/backend-emu/src/execute/alu.ts', 'packages/backend-emu/src/cpu/flags.ts'],
    tests: ['packages/backend-emu/dist/execute/alu.test.js', 'packages/backend-emu/dist/execute/flags-spec.test.js', 'packages/backend-emu/dist/execute/alu-sdm.test.js'],
  },
  {
    name: 'pit',
    package: 'strategy-hvm',
    mutate: ['packages/strategy-hvm/src/timer/pit8254.ts'],
    tests: ['packages/strategy-hvm/dist/timer/pit8254.test.js'],
  },
  {
    name: 'pic',
    package: 'strategy-hvm',
    mutate: ['packages/strategy-hvm/src/interrupt/pic8259.ts'],
    tests: ['packages/strategy-hvm/dist/interrupt/pic8259.test.js', 'packages/strategy-hvm/dist/interrupt/platform-interrupts.test.js'],
  },
  {
    name: 'lapic',
    package: 'strategy-hvm',
    mutate: ['packages/strategy-hvm/src/interrupt/lapic.ts'],
    tests: ['packages/strategy-hvm/dist/interrupt/lapic.test.js', 'packages/strategy-hvm/dist/interrupt/platform-interrupts.test.js'],
  },
];
