/**
 * The `minimal` strategy: what the first guests need and nothing more. The CPU and paging are the
 * hardware's, devices are reached through emulated port registers, and there is no interrupt
 * controller or timer yet. The `hvm`, `pv` and `hybrid` strategies (their own packages) replace it
 * facet by facet.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import { STRATEGIES, type IrqLine, type Strategy } from '@hyvisor/core';

/** A device interrupt line that goes nowhere. */
const UNCONNECTED: IrqLine = { raise() {}, lower() {} };

/** Builds the `minimal` strategy. */
export function minimalStrategy(): Strategy {
  return {
    name: 'minimal',
    description: 'hardware CPU and paging, emulated port I/O, no interrupt controller or timer',
    cpu: {
      facet: 'cpu', name: 'native', featureBits: 0,
      description: 'privileged instructions run on the (virtual) hardware; no hypercalls',
      requires: ['cpuid', 'run-deadline'],
    },
    memory: {
      facet: 'memory', name: 'hardware-paging', featureBits: 0,
      description: 'the guest owns its page tables; the backend maps guest RAM',
      requires: ['guest-memory'],
    },
    interrupt: {
      facet: 'interrupt', name: 'none', featureBits: 0,
      description: 'no interrupt controller: device interrupt lines are not connected',
      requires: [],
      irqLine: () => UNCONNECTED,
      canWake: () => false,
    },
    timer: {
      facet: 'timer', name: 'none', featureBits: 0,
      description: 'no timer device',
      requires: [],
    },
    io: {
      facet: 'io', name: 'port-io', featureBits: 0,
      description: 'devices are emulated at register level; one exit per register access',
      requires: [],
    },
  };
}

/** Registers `minimal` in the container's strategy registry. */
export function registerMinimalStrategy(container: DependencyContainer): void {
  container.resolve(STRATEGIES).register('minimal', minimalStrategy().description, minimalStrategy);
}
