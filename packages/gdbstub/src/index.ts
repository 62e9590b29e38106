/**
 * `@hyvisor/gdbstub`: the GDB remote serial protocol over any Hyvisor backend's vCPU.
 *
 * - {@link GdbServer}: a TCP stub over a machine (`hyvisor run … --gdb PORT` uses it).
 * - {@link GdbSession}: the protocol of one client over a {@link DebugTarget}; {@link machineTarget} builds one over a machine.
 * - {@link PacketReader}, {@link encodePacket}: the framing, for tools and tests.
 * - {@link REGISTERS}, {@link targetXml}: the x86-64 register layout gdb is told.
 * @module
 */
export { GDB_TOKEN_ENV, GdbServer, isLoopback, type GdbServerOptions } from './server.js';
export { GdbSession, type SessionIo, type SessionOptions } from './session.js';
export { machineTarget, type DebugTarget, type MachineTargetOptions, type TargetEnd, type TargetEvent } from './target.js';
export { MAX_PACKET, PacketReader, checksum, encodePacket, type Incoming } from './packet.js';
export { REGISTERS, targetXml, type RegisterDef, type RegisterState } from './registers.js';
