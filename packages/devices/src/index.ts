/**
 * `@hyvisor/devices`: device models every strategy needs, each a small register-level class
 * that meets the VMM through core's tiny interfaces (`PioDevice`, `IrqLine`, `ExitTrigger`).
 *
 * The entry exports what composing a VMM or writing a plugin needs: the device classes and their
 * definitions for the registry, the serial console's inputs and outputs, block stores, the built-
 * in boards and `registerBuiltinDevices`. Register-level constants (UART, RTC, i8042 register and
 * bit names) stay internal: a device's registers are its own business.
 * The runtime names are pinned in `docs/public-surface.json` (a test fails on any change).
 * @packageDocumentation
 */
export * from './uart/serial-io.js';
export { Uart16550, type Uart16550Options } from './uart/uart16550.js';
export * from './uart/uart-state.js';
export * from './debug-exit.js';
export * from './bench-counter.js';
export * from './irq-test.js';
export { StallDevice, type SleepFn, type StallState } from './stall.js';
export * from './storage/block-store.js';
export { diskStateOf, restoreDiskState, type DiskState } from './storage/disk-state.js';
export { Mc146818Rtc, RTC_IRQ, RTC_PORT, type RtcOptions } from './pc/mc146818-rtc.js';
export { I8042 } from './pc/i8042.js'; // its reset line is core's ResetTrigger
export * from './pc/post-code.js';
export * from './pc/system-control-port.js';
export * from './builtin.js';
