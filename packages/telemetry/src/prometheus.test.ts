import test from 'ava';
import { TelemetryHub } from '@hyvisor/core';
import { parsePrometheus, promValue, renderPrometheus } from './prometheus.js';
import { describeTarget } from './target.js';
import { fakeTarget } from './test-helpers.js';

function sampleHub(): TelemetryHub {
  const hub = new TelemetryHub();
  hub.portName = (p) => (p === 0x3f8 ? 'com1' : undefined);
  hub.counters.values[0] = 12; // exits.io
  hub.probes.pio(0x3f8, 1, 1, true);
  hub.probes.pio(0x80, 2, 3, false);
  hub.probes.hypercall(7);
  const ranges = [{ name: 'lapic', base: 0xfee00000, length: 0x1000 }, { name: 'pool', base: 0x100000, length: 0x1000 }];
  hub.probes.mmioRange = (i) => ranges[i];
  hub.probes.mmio(4, true, 0);
  hub.probes.mmio(4, false, 0);
  hub.probes.mmio(8, true, 1);
  hub.probes.mmio(4, false, -1);
  hub.probes.recordLatency(30);
  hub.probes.recordLatency(3000);
  hub.probes.setDrift(-1500);
  hub.counters.define('uart.tx', 'bytes the UART sent', { unit: 'bytes' });
  hub.counters.add(hub.counters.slotOf('uart.tx')!, 9);
  return hub;
}

test('the exposition parses strictly, every family with HELP and TYPE', (t) => {
  const hub = sampleHub();
  const text = renderPrometheus(hub, describeTarget(fakeTarget(hub)), { clients: 2, droppedMessages: 5 });
  const fams = parsePrometheus(text);
  t.is(fams.get('hyvisor_exits_total')!.type, 'counter');
  t.is(promValue(fams, 'hyvisor_exits_total', { kind: 'io' }), 12);
  t.is(promValue(fams, 'hyvisor_port_exits_total', { port: '0x03f8', device: 'com1' }), 1);
  t.is(promValue(fams, 'hyvisor_port_exits_total', { port: '0x0080', device: 'unowned' }), 1);
  t.is(promValue(fams, 'hyvisor_hypercalls_total', { nr: '7' }), 1);
  t.is(fams.get('hyvisor_mmio_exits_total')!.type, 'counter');
  t.is(promValue(fams, 'hyvisor_mmio_exits_total', { device: 'lapic' }), 2);
  t.is(promValue(fams, 'hyvisor_mmio_exits_total', { device: 'pool' }), 1);
  t.is(promValue(fams, 'hyvisor_mmio_exits_total', { device: 'unowned' }), 1);
  t.is(promValue(fams, 'hyvisor_io_bytes_total', { space: 'pio', direction: 'read' }), 6);
  t.is(promValue(fams, 'hyvisor_io_operations_total', { space: 'pio', direction: 'write' }), 1);
  t.is(promValue(fams, 'hyvisor_guest_time_drift_seconds'), -0.0015);
  t.is(fams.get('hyvisor_guest_time_drift_seconds')!.type, 'gauge');
  t.is(promValue(fams, 'hyvisor_uart_tx_bytes_total'), 9);
  t.is(promValue(fams, 'hyvisor_telemetry_dropped_messages_total'), 5);
  t.is(promValue(fams, 'hyvisor_info', { strategy: 'fake-strategy', interrupt: 'emulated-pic-apic' }), 1);
  t.is(promValue(fams, 'hyvisor_vm_state', { state: 'created' }), 1);
  t.true(text.includes('# HELP hyvisor_exits_total vCPU exits by kind\n# TYPE hyvisor_exits_total counter\n'));
});

test('interrupt latency is a cumulative histogram in seconds', (t) => {
  const hub = sampleHub();
  const fams = parsePrometheus(renderPrometheus(hub, describeTarget(fakeTarget(hub))));
  const h = fams.get('hyvisor_interrupt_latency_seconds')!;
  t.is(h.type, 'histogram');
  const buckets = h.samples.filter((s) => s.name.endsWith('_bucket'));
  const values = buckets.map((b) => b.value);
  t.deepEqual([...values].sort((a, b) => a - b), values, 'cumulative');
  t.is(promValue(fams, 'hyvisor_interrupt_latency_seconds', { le: '0.00005' }, 'hyvisor_interrupt_latency_seconds_bucket'), 1);
  t.is(promValue(fams, 'hyvisor_interrupt_latency_seconds', { le: '+Inf' }, 'hyvisor_interrupt_latency_seconds_bucket'), 2);
  t.is(promValue(fams, 'hyvisor_interrupt_latency_seconds', {}, 'hyvisor_interrupt_latency_seconds_count'), 2);
  t.true(Math.abs(promValue(fams, 'hyvisor_interrupt_latency_seconds', {}, 'hyvisor_interrupt_latency_seconds_sum')! - 0.00303) < 1e-12);
});

test('the strict parser refuses a sample outside its family and a repeated family', (t) => {
  t.throws(() => parsePrometheus('x_total 1\n'), { message: /outside its family/ });
  t.throws(() => parsePrometheus('# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 1\n# HELP a x\n# TYPE a gauge\n'), { message: /appears twice/ });
});
