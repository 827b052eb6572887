// A fault on purpose, for the tests of how a run ends when one of its processes fails mid-training (a rank
// of a data-parallel run, most of all): no other way makes exactly one rank fail at a known step.
import { invalidArg } from '../util/errors.js';

export const TEST_FAULT_ENV = 'ABLATE_TEST_FAULT';

const KINDS = /^(\d+)@(\d+):(error|enospc|SIG[A-Z]+)$/;

/**
 * `ABLATE_TEST_FAULT=<rank>@<step>:<kind>` makes that rank (0 for a single process), once optimizer step
 * <step> (1-based, counted over the whole run) and its checkpoint are done, throw an error (`error`), a
 * full-disk error (`enospc`), or kill itself with a signal (`SIGKILL`, …). Unset: undefined, nothing happens.
 * The fit loop asks once per step; nothing else reads the variable.
 */
export function testFault(rank: number, env: NodeJS.ProcessEnv = process.env): ((globalStep: number) => void) | undefined {
  const raw = env[TEST_FAULT_ENV];
  if (raw === undefined || raw === '') return undefined;
  const m = KINDS.exec(raw);
  if (!m) throw invalidArg(TEST_FAULT_ENV, '"<rank>@<step>:error", ":enospc" or ":SIGKILL" (a signal name)', raw);
  const [, faultRank, faultStep, kind] = m as unknown as [string, string, string, string];
  if (Number(faultRank) !== rank) return undefined;
  return (globalStep) => {
    if (globalStep !== Number(faultStep)) return;
    const where = `rank ${rank} at step ${globalStep}`;
    if (kind === 'error') throw new Error(`injected fault on ${where}`);
    if (kind === 'enospc') throw Object.assign(new Error(`ENOSPC: no space left on device (injected on ${where})`), { code: 'ENOSPC' });
    process.kill(process.pid, kind as NodeJS.Signals);
  };
}
