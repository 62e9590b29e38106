import test from 'ava';
import { ConfigError, GuestMemory, type DeviceContext, type PioDevice } from '@hyvisor/core';
import { ManualClock } from '@hyvisor/core/testing';
import { BUILTIN_DEVICES, i8042Device, pcBoard, postCodeDevice, rtcDevice } from '../builtin.js';

function context(name: string, exits: number[] = [], resets: string[] = []): DeviceContext {
  return {
    name, ports: [], irqNumber: undefined, irq: { raise() {}, lower() {} }, interruptLine: () => ({ raise() {}, lower() {} }),
    resources: { mapMmio: () => ({ dispose() {} }), mapPio: () => ({ dispose() {} }) },
    msi: { signalMsi() {} }, dma: { memory: new GuestMemory(), accessible: () => false }, lookup: () => undefined,
    exit: { requestExit: (c) => exits.push(c) }, reset: { requestReset: () => resets.push(name) }, clock: new ManualClock(0),
    console: { serial: { output: 'none', input: 'none' } } as unknown as DeviceContext['console'],
    own() {},
  };
}
const handlers = (pio: PioDevice | readonly PioDevice[]) => (Array.isArray(pio) ? pio : [pio]) as PioDevice[];

test('the pc board carries the RTC, the i8042 and port 0x80, all registered', (t) => {
  t.deepEqual(pcBoard.devices.map((d) => d.device), ['uart16550', 'debug-exit', 'mc146818-rtc', 'i8042', 'post-code', 'pci-host']);
  for (const d of pcBoard.devices) t.true(BUILTIN_DEVICES.some((b) => b.name === d.device), d.device);
  t.deepEqual([rtcDevice.ports, rtcDevice.irq], [[{ base: 0x70, count: 2 }], 8]);
  t.deepEqual([i8042Device.ports, i8042Device.irq], [[{ base: 0x60, count: 1 }, { base: 0x64, count: 1 }], 1]);
  t.deepEqual(postCodeDevice.ports, [{ base: 0x80, count: 1 }]);
});

test('mc146818-rtc: a fixed epoch gives repeatable dates; a bad one is a one-line config error', (t) => {
  const [rtc] = handlers(rtcDevice.create(context('rtc'), { epoch: '2026-12-06T13:45:30Z' }).pio);
  const reg = (r: number) => { rtc!.write(0, 1, r); return rtc!.read(1, 1); };
  t.deepEqual([0, 2, 4, 7, 8, 9].map(reg), [0x30, 0x45, 0x13, 0x06, 0x12, 0x26]);
  t.throws(() => rtcDevice.create(context('rtc'), { epoch: 'tomorrow' }), { instanceOf: ConfigError, message: /^devices: rtc: epoch: expected 'host' or an ISO date/ });
});

test('i8042: status at 0x64 through the second range; 0xFE pulls the machine\'s reset, not its exit code', (t) => {
  const exits: number[] = [];
  const resets: string[] = [];
  const [data, status] = handlers(i8042Device.create(context('i8042', exits, resets), {}).pio);
  t.is(status!.read(0, 1), 0x14);
  status!.write(0, 1, 0xaa);
  t.is(data!.read(0, 1), 0x55);
  status!.write(0, 1, 0xfe);
  t.deepEqual(resets, ['i8042']);
  t.deepEqual(exits, []);
});
