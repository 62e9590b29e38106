/**
 * `@hyvisor/devices`: device models every strategy needs, each a small register-level class
 * that meets the VMM through core's tiny interfaces (`PioDevice`, `IrqLine`, `ExitTrigger`).
 * @packageDocumentation
 */
export * from './uart/serial-io.js';
export * from './uart/uart16550.js';
export * from './uart/uart-state.js';
export * from './debug-exit.js';
export * from './bench-counter.js';
export * from './irq-test.js';
export * from './stall.js';
export * from './storage/block-store.js';
export * from './pc/mc146818-rtc.js';
export * from './pc/i8042.js';
export * from './pc/post-code.js';
export * from './pc/system-control-port.js';
export * from './builtin.js';
