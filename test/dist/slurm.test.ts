// A real scheduler: scripts/slurm-check.sh starts Debian's slurm-wlm (slurmctld, slurmd, munge) on
// 127.0.0.1 with private ports, runs a 2-task srun data-parallel training and a 4-run study as a job
// array, checks what they wrote, and stops the daemons. It skips, saying why, where Slurm cannot run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

test('Slurm on 127.0.0.1: srun data-parallel run and a study job array', { timeout: 900_000 }, (t) => {
  const work = mkdtempSync(join(tmpdir(), 'ablate-slurm-'));
  try {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'slurm-check.sh'), work], { encoding: 'utf8', timeout: 880_000 });
    const out = `${r.stdout}\n${r.stderr}`;
    const skipped = /slurm-check: SKIP (.*)/.exec(r.stdout);
    if (skipped) {
      t.skip(skipped[1]);
      return;
    }
    assert.equal(r.status, 0, out.slice(-4000));
    assert.match(r.stdout, /slurm-check: PASS/);
    assert.match(out, /srun data-parallel run ok \(worldSize 2\)/);
  } finally {
    // Retries: a daemon's last write may still land as the folder is removed.
    rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});
