import { openSync, closeSync, writeSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per run folder. A previous process that still holds the lock (e.g. a worker finishing
 * its last step after its study was killed) is waited for; a stale lock from a dead process is taken over.
 */
export async function acquireRunLock(runDir: string, waitMs = 120_000): Promise<() => void> {
  const path = join(runDir, 'lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || !alive(holder)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`run folder ${runDir} is in use by process ${holder}; stop it or wait for it to finish`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
