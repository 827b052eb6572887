/**
 * Slurm requeue after a preemption: `scontrol requeue <job>` puts the job back in the queue, and the same
 * batch script (the same command) resumes from the checkpoint the stop just saved, as PyTorch Lightning's
 * `SLURMEnvironment(auto_requeue=True)` and submitit do.
 */
import { execFileSync } from 'node:child_process';

/** scontrol talks to slurmctld; a controller that does not answer must not keep a preempted job alive. */
const SCONTROL_TIMEOUT_MS = 30_000;

/** Whether a preempted run should requeue its Slurm job: `--requeue`, or ABLATE_REQUEUE=1 in the job's environment. */
export function requeueWanted(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return flag === true || env.ABLATE_REQUEUE === '1' || env.ABLATE_REQUEUE === 'true';
}

/** The job to requeue: one task of an array job (`<array job>_<task>`), else the job itself; undefined outside Slurm. */
export function slurmJobOf(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || undefined;
}

/** Requeues this Slurm job; returns a line saying what happened (never throws: the checkpoint is saved either way). */
export function requeueSlurmJob(env: NodeJS.ProcessEnv = process.env): { requeued: boolean; message: string } {
  const job = slurmJobOf(env);
  if (!job) return { requeued: false, message: 'not requeued: no SLURM_JOB_ID (not running under Slurm); run the same command again to resume' };
  if (!/^\d+(_\d+)?$/.test(job)) return { requeued: false, message: `not requeued: SLURM_JOB_ID ${JSON.stringify(job)} is not a job number` };
  try {
    execFileSync('scontrol', ['requeue', job], { timeout: SCONTROL_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'], env });
    return { requeued: true, message: `requeued Slurm job ${job} (scontrol requeue ${job}): it resumes from this checkpoint when it runs again` };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer; signal?: string };
    const why = err.code === 'ENOENT' ? 'scontrol not found on PATH'
      : err.signal ? `scontrol took over ${SCONTROL_TIMEOUT_MS / 1000} s`
        : err.stderr?.toString().trim().split('\n')[0] || err.message;
    return { requeued: false, message: `could not requeue Slurm job ${job}: ${why}; run the same command again to resume` };
  }
}
