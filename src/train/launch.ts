// The torchrun environment contract (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE), read the same way whoever started the process — torchrun, srun, a Kubernetes job —
// and a local launcher that starts N ranks of one command itself (`--nproc-per-node N`), ending them all
// when one fails, as torchrun does.
import { stopSignalOf } from '../util/interrupt.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { readRankError, recordRankFailure, writeRankError, type RankEnd, type RankFailureRecord } from '../run/run-folder.js';

export interface LaunchEnv {
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
}

export class LaunchEnvError extends Error {
  override name = 'LaunchEnvError';
}

const VARS = ['MASTER_ADDR', 'MASTER_PORT', 'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'LOCAL_WORLD_SIZE'] as const;

/**
 * The data-parallel placement this process was started with, or null for a single process (WORLD_SIZE
 * unset or 1). Slurm's srun variables stand in where torchrun's are absent (SLURM_PROCID, SLURM_NTASKS,
 * SLURM_LOCALID, SLURM_TASKS_PER_NODE), so `srun ablate train …` needs no wrapper; MASTER_ADDR and
 * MASTER_PORT must still be set (a job script exports them).
 */
export function readLaunchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  const get = (name: string, slurm?: string): string | undefined => env[name] ?? (slurm ? env[slurm] : undefined);
  const worldRaw = get('WORLD_SIZE', 'SLURM_NTASKS');
  if (worldRaw === undefined || worldRaw === '1') return null;
  const problems: string[] = [];
  const int = (name: string, raw: string | undefined, min: number, max: number): number => {
    const v = raw === undefined || !/^\d+$/.test(raw.trim()) ? NaN : Number(raw);
    if (!(v >= min && v <= max)) problems.push(`${name}: expected an integer in [${min}, ${max}] but received ${raw === undefined ? 'nothing (unset)' : JSON.stringify(raw)}`);
    return v;
  };
  const worldSize = int('WORLD_SIZE', worldRaw, 1, 65536);
  const rank = int('RANK', get('RANK', 'SLURM_PROCID'), 0, Math.max(0, worldSize - 1));
  // srun sets SLURM_TASKS_PER_NODE as "2(x3),1": this node's count is the first group's for a uniform job.
  const slurmPerNode = env.SLURM_NTASKS_PER_NODE ?? /^(\d+)/.exec(env.SLURM_TASKS_PER_NODE ?? '')?.[1];
  const localWorldSize = int('LOCAL_WORLD_SIZE', env.LOCAL_WORLD_SIZE ?? slurmPerNode ?? String(worldSize), 1, Math.max(1, worldSize));
  const localRank = int('LOCAL_RANK', get('LOCAL_RANK', 'SLURM_LOCALID') ?? String(rank), 0, Math.max(0, localWorldSize - 1));
  const masterPort = int('MASTER_PORT', env.MASTER_PORT, 1, 65535);
  const masterAddr = env.MASTER_ADDR ?? '';
  if (!masterAddr) problems.push('MASTER_ADDR: expected the host name or address of rank 0 but received nothing (unset)');
  if (problems.length > 0) {
    throw new LaunchEnvError(
      `This process was started as one rank of a data-parallel run (WORLD_SIZE=${worldRaw}), but its environment is incomplete:\n` +
        problems.map((p) => `  ${p}`).join('\n') +
        `\nSet ${VARS.join(', ')} as torchrun does, or start the ranks with "ablate train … --nproc-per-node N".`,
    );
  }
  return { masterAddr, masterPort, rank, worldSize, localRank, localWorldSize };
}

/** torchrun's default MASTER_PORT, the rendezvous port of a run over several nodes unless one is given. */
export const DEFAULT_MASTER_PORT = 29500;

/** Refuses a node placement that cannot form a run (validated before any rank starts). */
export function checkNodes(n: LaunchNodes): void {
  if (!Number.isInteger(n.count) || n.count < 1 || n.count > 65536) throw new RangeError(`Expected --nnodes to be an integer in [1, 65536] but received ${JSON.stringify(n.count)}`);
  if (!Number.isInteger(n.rank) || n.rank < 0 || n.rank >= n.count) throw new RangeError(`Expected --node-rank to be an integer in [0, ${n.count - 1}] (--nnodes ${n.count}) but received ${JSON.stringify(n.rank)}`);
  if (typeof n.masterAddr !== 'string' || !/^[A-Za-z0-9.:_-]+$/.test(n.masterAddr)) {
    throw new TypeError(`Expected --master-addr to be node 0's host name or address but received ${JSON.stringify(n.masterAddr)}`);
  }
}

/** A free TCP port on 127.0.0.1 for a local rendezvous. */
export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** torchrun's --nnodes/--node-rank/--master-addr: this machine is one node of several, each starting its own ranks. */
export interface LaunchNodes {
  /** Machines in the run (torchrun's --nnodes), each starting `nproc` ranks. */
  count: number;
  /** This machine's place, 0 … count-1: its ranks are rank·nproc … rank·nproc + nproc - 1. */
  rank: number;
  /** Node 0's host name or address, where global rank 0 holds the rendezvous. */
  masterAddr: string;
}

export interface LocalLaunchOptions {
  /** Ranks to start on this machine. */
  nproc: number;
  /** Rendezvous port; a free one by default (29500, torchrun's, for several nodes: the others must know it). */
  masterPort?: number;
  /** Several machines; absent: this machine alone, rendezvous on 127.0.0.1. */
  nodes?: LaunchNodes;
  env?: NodeJS.ProcessEnv;
  /** How long the others get to stop after one rank failed, before SIGKILL. Default 10 s. */
  graceMs?: number;
  /**
   * Exit codes besides 0 that end a rank cleanly (a study worker's "stopped with a checkpoint", which the
   * ranks agree on together): they do not stop the others, and when every rank ended cleanly the launch
   * returns rank 0's code.
   */
  cleanCodes?: readonly number[];
  /** Aborting it asks every rank to stop, as a Ctrl-C forwarded to each would (the launcher's parent is gone, say). */
  signal?: AbortSignal;
}

export interface LocalLaunchResult {
  /** Rank 0's code when every rank ended cleanly (0 unless cleanCodes); otherwise the first failing rank's exit code (128 + signal number for a signal). */
  exitCode: number;
  /** The first rank that failed (its global rank), with how. */
  failed?: { rank: number; code: number | null; signal: NodeJS.Signals | null };
  /** When it ended (ms since the epoch). */
  failedAt?: number;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGUSR1: 10, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };

/**
 * Starts `nproc` copies of `command args…` with the torchrun variables set (rank 0 hosts the rendezvous on
 * 127.0.0.1), forwards SIGINT/SIGTERM/SIGUSR1 to all of them, and when one fails stops the rest — a data-parallel
 * run cannot continue with a rank missing, and a hang would waste the machine.
 */
export async function launchLocalRanks(command: string, args: readonly string[], o: LocalLaunchOptions): Promise<LocalLaunchResult> {
  if (!Number.isInteger(o.nproc) || o.nproc < 1) throw new RangeError(`Expected --nproc-per-node to be a positive integer but received ${JSON.stringify(o.nproc)}`);
  const nodes = o.nodes ?? { count: 1, rank: 0, masterAddr: '127.0.0.1' };
  checkNodes(nodes);
  const port = o.masterPort ?? (o.nodes ? DEFAULT_MASTER_PORT : await freeLocalPort());
  const first = nodes.rank * o.nproc;
  const children: ChildProcess[] = [];
  let failed: LocalLaunchResult['failed'];
  let failedAt = 0;
  const grace = o.graceMs ?? 10_000;
  const stopOthers = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
    const t = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, grace);
    t.unref();
  };
  const forward = (signal: NodeJS.Signals) => () => stopOthers(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  // Slurm's preemption warning (--signal=B:USR1@90) reaches only the launcher: each rank checkpoints on it.
  const onUsr1 = forward('SIGUSR1');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGUSR1', onUsr1);
  // The ranks learn which signal stopped the launcher (SIGTERM from a scheduler is named as such in their status).
  const onAbort = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(stopSignalOf(o.signal));
  };
  o.signal?.addEventListener('abort', onAbort);
  const clean = new Set([0, ...(o.cleanCodes ?? [])]);
  let rank0Code = 0;
  try {
    const exits = Array.from({ length: o.nproc }, (_, rank) => {
      const env = {
        ...(o.env ?? process.env),
        MASTER_ADDR: nodes.masterAddr,
        MASTER_PORT: String(port),
        RANK: String(first + rank),
        WORLD_SIZE: String(nodes.count * o.nproc),
        GROUP_RANK: String(nodes.rank),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(o.nproc),
      };
      const child = spawn(command, [...args], { env, stdio: 'inherit' });
      children.push(child);
      return new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          if (rank === 0 && code !== null) rank0Code = code;
          if ((code === null || !clean.has(code) || signal) && !failed) {
            failed = { rank: first + rank, code, signal };
            failedAt = Date.now();
            stopOthers('SIGTERM');
          }
          resolve();
        });
        child.on('error', (e) => {
          if (!failed) {
            failed = { rank: first + rank, code: 127, signal: null };
            failedAt = Date.now();
          }
          process.stderr.write(`rank ${rank} could not be started: ${e.message}\n`);
          stopOthers('SIGTERM');
          resolve();
        });
      });
    });
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGUSR1', onUsr1);
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (!failed) return { exitCode: rank0Code };
  const code = failed.code ?? 128 + (failed.signal ? SIGNAL_NUMBERS[failed.signal] ?? 1 : 1);
  return { exitCode: code === 0 ? 1 : code, failed, failedAt };
}

/**
 * The ranks of the run in `runDir` (launchLocalRanks), and when one failed, its end recorded in the run's
 * status.json (recordRankFailure): how `ablate train --nproc-per-node` and a study worker start a run's ranks.
 */
export async function launchRunRanks(
  runDir: string, command: string, args: readonly string[], o: LocalLaunchOptions,
): Promise<LocalLaunchResult & { failure?: RankFailureRecord }> {
  const since = Date.now();
  const r = await launchLocalRanks(command, args, o);
  if (!r.failed) return r;
  const nodes = o.nodes?.count ?? 1;
  const end = { ...r.failed, worldSize: o.nproc * nodes, nprocPerNode: o.nproc, at: r.failedAt ?? Date.now() };
  if (nodes > 1) await shareNodeFailure(runDir, end, o.nproc * (o.nodes?.rank ?? 0), o.nproc, since);
  return { ...r, failure: recordRankFailure(runDir, end, since) };
}

/** How long a node whose ranks only lost a peer waits for another node's record of the cause. */
const OTHER_NODE_RECORD_MS = 10_000;

/**
 * Several nodes share the run folder, and only node 0's rank 0 writes status.json, so a node's launcher
 * leaves what it saw where the others read it: a rank killed by a signal becomes that rank's error file
 * (rank 0 cannot have seen it; a SIGKILLed rank writes nothing). A node whose own ranks failed with a code
 * (most often: a peer on another node was gone) first waits a little for another node's record, so the
 * cause — `interrupted`, `rank 2 of 4 (node 1) was killed by SIGKILL` — wins over its consequence.
 */
async function shareNodeFailure(runDir: string, end: RankEnd, first: number, nproc: number, since: number): Promise<void> {
  if (end.signal) {
    if (end.rank === 0) return; // rank 0's own record decides; recordRankFailure reads `end` for it
    try {
      writeRankError(runDir, { rank: end.rank, worldSize: end.worldSize, error: `was killed by ${end.signal}`, signal: end.signal, diskFull: false, at: new Date(end.at).toISOString() });
    } catch (e) {
      process.stderr.write(`warning: could not leave rank ${end.rank}'s end for the other nodes (${(e as Error).message})
`);
    }
    return;
  }
  const others = Array.from({ length: end.worldSize }, (_, k) => k).filter((k) => k > 0 && (k < first || k >= first + nproc));
  const deadline = Date.now() + OTHER_NODE_RECORD_MS;
  while (Date.now() < deadline) {
    if (others.some((k) => { const e = readRankError(runDir, k); return e !== undefined && Date.parse(e.at) >= since; })) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The line a launcher prints for a failed launch: `error: rank 1 of 2: <its error>; the other ranks were stopped`. */
export function rankFailureLine(f: RankFailureRecord): string {
  return `${f.error ? 'error: ' : ''}${f.message}; the other ranks were stopped`;
}

/** Local ranks that cannot run on this machine (more ranks than GPUs on CUDA). */
export class LocalRanksError extends RangeError {
  override name = 'LocalRanksError';
}

/**
 * Whether `nproc` local ranks fit this machine. On CUDA each rank trains on its own GPU (cuda:<local
 * rank>) with NCCL, so an addon without NCCL (`ncclProblem`, from `backendProblem('nccl')`) and more ranks
 * than visible GPUs are refused; on CPU more ranks than cores only share them (slower, the same results),
 * which is a warning.
 */
export function checkLocalRanks(nproc: number, device: string, machine: { cores: number; gpus: number; ncclProblem?: string | null }): { warning?: string } {
  if (nproc <= 1) return {};
  if (device.startsWith('cuda')) {
    if (machine.ncclProblem) throw new LocalRanksError(machine.ncclProblem);
    if (nproc > machine.gpus) {
      throw new LocalRanksError(`Expected distributed.nprocPerNode to be at most the ${machine.gpus} visible GPU${machine.gpus === 1 ? '' : 's'} on device cuda (one rank per GPU) but received ${nproc}`);
    }
    return {};
  }
  if (nproc > machine.cores) {
    return { warning: `note: ${nproc} ranks on ${machine.cores} CPU core${machine.cores === 1 ? '' : 's'}: the ranks share cores (slower, the same results); distributed.nprocPerNode ${machine.cores} or fewer would not` };
  }
  return {};
}
