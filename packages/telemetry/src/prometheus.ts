/**
 * The Prometheus text exposition (format 0.0.4) of one VM's telemetry: conventional names
 * (`hyvisor_exits_total{kind="io"}`), base units (seconds, bytes), `# HELP` and `# TYPE` lines.
 * @module
 */
import {
  CoreCounter, EXIT_KIND_COUNT, EXIT_KIND_NAMES, FACET_NAMES, LATENCY_BUCKETS_US, latencyBucketName, type TelemetryHub,
} from '@hyvisor/core';
import type { VmDescription } from './protocol.js';

/** Content type of the exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Extra figures the server adds (its own clients and drops). */
export interface ServerFigures {
  readonly clients: number;
  readonly droppedMessages: number;
}

/** Renders the exposition of `hub` for the VM `vm`. */
export function renderPrometheus(hub: TelemetryHub, vm: VmDescription, server?: ServerFigures): string {
  const out: string[] = [];
  const c = hub.counters;
  c.refresh();
  const v = c.values;
  const base = `vm="${esc(vm.name)}"`;
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string) => {
    out.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  };
  const sample = (name: string, labels: string, value: number) => {
    out.push(`${name}{${labels ? `${base},${labels}` : base}} ${fmt(value)}`);
  };
  const known = new Set<number>();
  const slotValue = (slot: number) => { known.add(slot); return v[slot] ?? 0; };
  const s = hub.probes.slots;

  const facetLabels = FACET_NAMES.map((f) => `${f}="${esc(vm.strategy.facets[f].name)}"`).join(',');
  family('hyvisor_info', 'gauge', 'The VM: backend, host flavour, strategy and the implementation of each facet (value 1)');
  sample('hyvisor_info', `backend="${esc(vm.backend.name)}",flavour="${esc(vm.backend.flavour)}",strategy="${esc(vm.strategy.name)}",${facetLabels}`, 1);
  family('hyvisor_vm_state', 'gauge', 'The VM life-cycle state (1 for the current state)');
  for (const st of ['created', 'running', 'paused', 'stopped']) sample('hyvisor_vm_state', `state="${st}"`, hub.state === st ? 1 : 0);

  family('hyvisor_exits_total', 'counter', 'vCPU exits by kind');
  for (let k = 0; k < EXIT_KIND_COUNT; k++) sample('hyvisor_exits_total', `kind="${EXIT_KIND_NAMES[k]}"`, slotValue(k));

  family('hyvisor_port_exits_total', 'counter', 'Port I/O exits by port and the device that owns it');
  const pe = hub.probes.portExits;
  for (let p = 0; p < pe.length; p++) {
    if (pe[p] === 0) continue;
    sample('hyvisor_port_exits_total', `port="0x${p.toString(16).padStart(4, '0')}",device="${esc(hub.portName(p) ?? 'unowned')}"`, pe[p]!);
  }

  family('hyvisor_mmio_exits_total', 'counter', 'MMIO exits by the device whose range was accessed (unowned: no range)');
  const mmioByDevice = new Map<string, number>();
  const me = hub.probes.mmioExits;
  for (let i = 0; i < me.length; i++) {
    if (me[i] === 0) continue;
    const device = hub.probes.mmioRange(i)?.name ?? `mmio${i}`;
    mmioByDevice.set(device, (mmioByDevice.get(device) ?? 0) + me[i]!);
  }
  if (hub.probes.mmioUnownedExits > 0) mmioByDevice.set('unowned', (mmioByDevice.get('unowned') ?? 0) + hub.probes.mmioUnownedExits);
  for (const [device, n] of mmioByDevice) sample('hyvisor_mmio_exits_total', `device="${esc(device)}"`, n);

  family('hyvisor_hypercalls_total', 'counter', 'Hypercalls by number');
  const hc = hub.probes.hypercallsByNr;
  for (let nr = 0; nr < hc.length; nr++) if (hc[nr] !== 0) sample('hyvisor_hypercalls_total', `nr="${nr}"`, hc[nr]!);
  family('hyvisor_hypercalls_all_total', 'counter', 'Hypercalls made by the guest, all numbers');
  sample('hyvisor_hypercalls_all_total', '', slotValue(CoreCounter.Hypercalls));
  family('hyvisor_hypercall_errors_total', 'counter', 'Hypercalls that returned an error to the guest');
  sample('hyvisor_hypercall_errors_total', '', slotValue(CoreCounter.HypercallErrors));

  family('hyvisor_interrupts_injected_total', 'counter', 'Interrupt vectors handed to the guest');
  sample('hyvisor_interrupts_injected_total', '', slotValue(CoreCounter.InterruptsInjected));
  family('hyvisor_interrupts_dropped_total', 'counter', 'Interrupt vectors dropped because the queue was full');
  sample('hyvisor_interrupts_dropped_total', '', slotValue(CoreCounter.InterruptsDropped));

  family('hyvisor_interrupt_latency_seconds', 'histogram', 'Interrupt latency: raised to delivered (vector taken by the guest or acknowledged)');
  let cumulative = 0;
  for (let i = 0; i <= LATENCY_BUCKETS_US.length; i++) {
    const slot = c.slotOf(latencyBucketName(i))!;
    cumulative += slotValue(slot);
    const le = i < LATENCY_BUCKETS_US.length ? fmt(LATENCY_BUCKETS_US[i]! / 1e6) : '+Inf';
    sample('hyvisor_interrupt_latency_seconds_bucket', `le="${le}"`, cumulative);
  }
  sample('hyvisor_interrupt_latency_seconds_sum', '', slotValue(s.latencySumUs) / 1e6);
  sample('hyvisor_interrupt_latency_seconds_count', '', slotValue(s.latencyCount));

  family('hyvisor_timer_events_total', 'counter', 'Timer events (emulated timer interrupts raised, host timer callbacks run)');
  sample('hyvisor_timer_events_total', '', slotValue(s.timerEvents));
  family('hyvisor_guest_time_drift_seconds', 'gauge', 'Guest time minus host time since the guest timer started (negative: the guest is behind)');
  sample('hyvisor_guest_time_drift_seconds', '', slotValue(s.driftUs) / 1e6);

  const io: [string, string, number, number][] = [
    ['pio', 'read', s.pioReadBytes, s.pioReadOps], ['pio', 'write', s.pioWriteBytes, s.pioWriteOps],
    ['mmio', 'read', s.mmioReadBytes, s.mmioReadOps], ['mmio', 'write', s.mmioWriteBytes, s.mmioWriteOps],
  ];
  family('hyvisor_io_bytes_total', 'counter', 'Bytes moved by I/O exits, by address space and direction');
  for (const [sp, dir, bytes] of io) sample('hyvisor_io_bytes_total', `space="${sp}",direction="${dir}"`, slotValue(bytes));
  family('hyvisor_io_operations_total', 'counter', 'I/O accesses that exited, by address space and direction');
  for (const [sp, dir, , ops] of io) sample('hyvisor_io_operations_total', `space="${sp}",direction="${dir}"`, slotValue(ops));
  family('hyvisor_io_unhandled_total', 'counter', 'Accesses to ports or MMIO addresses no device owns');
  sample('hyvisor_io_unhandled_total', 'space="pio"', slotValue(CoreCounter.PioUnhandled));
  sample('hyvisor_io_unhandled_total', 'space="mmio"', slotValue(CoreCounter.MmioUnhandled));

  family('hyvisor_vcpu_run_seconds_total', 'counter', 'Host time the vCPU spent in its run loop');
  sample('hyvisor_vcpu_run_seconds_total', '', slotValue(s.vcpuRunUs) / 1e6);
  family('hyvisor_state_changes_total', 'counter', 'VM state changes (running, paused, stopped)');
  sample('hyvisor_state_changes_total', '', slotValue(s.vcpuStateChanges));
  family('hyvisor_errors_total', 'counter', 'Errors reported by the VMM (guest crashes, backend failures)');
  sample('hyvisor_errors_total', '', slotValue(s.errors));

  // Every other counter (devices, strategies) under its own sanitized name.
  for (const info of c.list) {
    if (known.has(info.slot) || info.name.startsWith('interrupts.latency.bucket.')) continue;
    const unit = info.unit === 'bytes' ? '_bytes' : info.unit === 'us' ? '_microseconds' : '';
    const name = `hyvisor_${info.name.replace(/[^a-zA-Z0-9_]/g, '_')}${unit}${info.type === 'counter' ? '_total' : ''}`;
    family(name, info.type, info.help);
    sample(name, '', v[info.slot] ?? 0);
  }

  if (server) {
    family('hyvisor_telemetry_clients', 'gauge', 'WebSocket clients connected to the telemetry server');
    sample('hyvisor_telemetry_clients', '', server.clients);
    family('hyvisor_telemetry_dropped_messages_total', 'counter', 'Telemetry messages dropped for clients that read too slowly');
    sample('hyvisor_telemetry_dropped_messages_total', '', server.droppedMessages);
  }
  return out.join('\n') + '\n';
}

/** One parsed sample line. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** One parsed family. */
export interface PromFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: PromSample[];
}

/**
 * A strict parser of the text format (what this module writes): families with HELP and TYPE
 * before their samples, each family once, valid names and labels. Throws on anything else. For
 * tests and the example client.
 */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  let current: { name: string; type?: string; help?: string; samples: PromSample[] } | undefined;
  const finish = () => {
    if (current) {
      if (current.type === undefined || current.help === undefined) throw new Error(`family ${current.name}: missing HELP or TYPE`);
      families.set(current.name, { name: current.name, type: current.type, help: current.help, samples: current.samples });
    }
  };
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('exposition must end with a newline');
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}`;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (current?.name !== name) {
        finish();
        if (families.has(name!)) throw new Error(`${where}: family ${name} appears twice`);
        current = { name: name!, samples: [] };
      }
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!)) throw new Error(`${where}: bad type ${rest}`);
        current.type = rest!;
      } else current.help = rest!;
      continue;
    }
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample: ${line}`);
    const [, name, labelText, valueText] = m;
    if (!current || !(name === current.name || (current.type === 'histogram' && /_(bucket|sum|count)$/.test(name!) && name!.replace(/_(bucket|sum|count)$/, '') === current.name))) {
      throw new Error(`${where}: sample ${name} outside its family`);
    }
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const lm = re.exec(labelText);
        if (!lm) throw new Error(`${where}: bad labels: ${labelText}`);
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = re.lastIndex;
      }
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`${where}: bad value ${valueText}`);
    current.samples.push({ name: name!, labels, value });
  }
  finish();
  return families;
}

/** The value of the sample of `family` whose labels include `labels` (undefined if none). */
export function promValue(families: Map<string, PromFamily>, family: string, labels: Record<string, string> = {}, name = family): number | undefined {
  const f = families.get(family);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return s?.value;
}

function esc(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}
