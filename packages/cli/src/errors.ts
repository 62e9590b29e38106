/**
 * Which exit code an error gets. Loaded only when something failed, so a clean run never pays
 * for it.
 * @module
 */

/**
 * 2 for what the user fixes in the command line or config (config, guest image, composition,
 * wiring); 1 for runtime failures (backend, guest crash, a host resource such as a port in use);
 * 70 for anything not raised on purpose (a bug).
 */
export async function exitCodeFor(err: unknown): Promise<number> {
  const { HyvisorError, BackendError, GuestCrashError, HostError } = await import('@hyvisor/core');
  if (!(err instanceof HyvisorError)) return 70;
  if (err instanceof BackendError || err instanceof GuestCrashError || err instanceof HostError) return 1;
  return 2;
}
