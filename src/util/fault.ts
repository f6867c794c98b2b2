/**
 * Fault injection for crash tests: with RUNCTRL_FAULT=<step> (optionally RUNCTRL_FAULT=<step>:<n> for the
 * n-th time the step is reached) the process kills itself with SIGKILL at that step: of a pass, or of the
 * local executor (local-after-exit).
 */
const counts = new Map<string, number>();

export function fault(step: string): void {
  const spec = process.env.RUNCTRL_FAULT;
  if (!spec) return;
  const [name, nth] = spec.split(':');
  if (name !== step) return;
  const n = (counts.get(step) ?? 0) + 1;
  counts.set(step, n);
  if (n >= Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
