import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs the package's install-time build (scripts/install-native.cjs) on demand. */
export async function buildNativeCommand(): Promise<void> {
  // From src/cli/commands (tsx) or dist/src/cli/commands (compiled), the package root holds scripts/.
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', '..', '..'), join(here, '..', '..', '..', '..')];
  const root = candidates.find((r) => existsScript(r)) ?? candidates[0]!;
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'install-native.cjs'), '--from-cli'], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
}

function existsScript(root: string): boolean {
  return existsSync(join(root, 'scripts', 'install-native.cjs'));
}
