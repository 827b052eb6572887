import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { expandShorthand, localRanksOf, resolveRunPlan } from '../../run/plan.js';
import { parseYamlText, readConfigText } from '../../util/config-file.js';
import { ensureOutDir } from '../../util/out-dir.js';
import { parseSetOverrides } from '../../study/spec-overrides.js';
import { setPath, type PlainObject } from '../../study/spec-paths.js';
import { EXIT_TEMPFAIL, UsageError } from '../errors.js';
import { InterruptedError, interruptExitCode, SIGNAL_EXIT, wasPreempted } from '../../util/interrupt.js';
import { isDiskFull } from '../../study/worker-protocol.js';
import { collectProvenance } from '../../util/provenance.js';
import { requeueSlurmJob, requeueWanted } from '../../util/requeue.js';
import { isDownloadable, parseHfArg, resolveMirror } from '../../data/index.js';
import { parsePositiveInt, parseNonNegativeInt, parseNumber, interruptSignal, parseModelArg } from '../options.js';
import { checkLocalRanks, checkNodes, launchRunRanks, LocalRanksError, rankFailureLine, readLaunchEnv, type LaunchNodes } from '../../train/launch.js';
import { acquireRunLock, RunBusyError } from '../../run/run-lock.js';
import { RUN_FILES, runFolder } from '../../run/folder.js';

export interface TrainFlags {
  requeue?: boolean;
  model?: string;
  data?: string;
  source?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  augment?: string;
  precision?: string;
  device?: string;
  threads?: string;
  seed?: string;
  set?: string[];
  out: string;
  resume?: boolean;
  nprocPerNode?: string;
  nnodes?: string;
  nodeRank?: string;
  masterAddr?: string;
  masterPort?: string;
  mirror?: string;
}

/** --nnodes/--node-rank/--master-addr/--master-port, checked together; undefined for one machine. */
export function nodesOf(f: TrainFlags): { nodes?: LaunchNodes; masterPort?: number } {
  const given = [f.nnodes, f.nodeRank, f.masterAddr, f.masterPort].some((v) => v !== undefined);
  if (!given) return {};
  const launched = readLaunchEnv();
  const masterPort = f.masterPort === undefined ? undefined : parsePositiveInt('--master-port', f.masterPort);
  if (masterPort !== undefined && masterPort > 65535) throw new UsageError(`Expected --master-port to be a port in [1, 65535] but received ${masterPort}`);
  const count = f.nnodes === undefined ? 1 : parsePositiveInt('--nnodes', f.nnodes);
  if (count === 1) return { masterPort };
  if (f.nodeRank === undefined) throw new UsageError(`--nnodes ${count} needs --node-rank (this machine's place, 0 … ${count - 1})`);
  if (f.masterAddr === undefined) throw new UsageError(`--nnodes ${count} needs --master-addr (node 0's host name or address, the same on every node)`);
  const nodes = { count, rank: parseNonNegativeInt('--node-rank', f.nodeRank), masterAddr: f.masterAddr };
  try {
    checkNodes(nodes);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  // A rank this launcher started runs the same command line: the flags must agree with its environment.
  if (launched !== null) {
    const world = count * launched.localWorldSize;
    if (launched.worldSize !== world || launched.masterAddr !== nodes.masterAddr || (masterPort !== undefined && launched.masterPort !== masterPort)) {
      throw new UsageError(`--nnodes ${count} --master-addr ${nodes.masterAddr} disagree with this rank's environment (WORLD_SIZE=${launched.worldSize}, MASTER_ADDR=${launched.masterAddr}, MASTER_PORT=${launched.masterPort}): under torchrun or srun leave the node flags out`);
    }
  }
  return { nodes, masterPort };
}

export function loadConfigFile(file: string): PlainObject {
  let text: string;
  try {
    text = readConfigText(file, 'config file');
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let obj: unknown;
  if (/\.json$/i.test(file)) {
    try {
      obj = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`${file} is not valid JSON: ${(e as Error).message}`);
    }
  } else {
    const r = parseYamlText(text);
    if (r.errors.length) throw new UsageError(`${file} is not valid YAML: ${r.errors.map((e) => (e.line !== undefined ? `line ${e.line}, column ${e.col}: ` : '') + e.message).join('; ')}`);
    obj = r.value;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new UsageError(`${file}: expected a mapping of config fields at the top level`);
  // A study file's `base:` is accepted too, so a study's settings can be trained on their own.
  const o = obj as PlainObject;
  return (typeof o.base === 'object' && o.base !== null && !('model' in o) ? (o.base as PlainObject) : o);
}

/** Config file ⊕ flags ⊕ --set overrides, in that order. `--resume` without a config continues from the run folder's plan. */
export function buildTrainConfig(file: string | undefined, f: TrainFlags): PlainObject {
  const runPlan = runFolder(resolve(f.out)).config;
  const fromRun = file === undefined && f.resume === true && existsSync(runPlan);
  const cfg: PlainObject = file ? loadConfigFile(file) : fromRun ? loadConfigFile(runPlan) : {};
  const data = (typeof cfg.data === 'object' && cfg.data !== null ? { ...(cfg.data as PlainObject) } : {}) as PlainObject;
  // `--data cifar10`: a dataset name that is not a path here means "fetch it".
  const hf = parseHfArg(f.data);
  if (hf) {
    delete data.path;
    Object.assign(data, hf);
  } else if (f.data !== undefined && !existsSync(f.data) && isDownloadable(f.data) && f.source === undefined) data.source = f.data;
  else if (f.data !== undefined) data.path = /^https?:\/\//.test(f.data) ? f.data : resolve(f.data);
  if (f.source !== undefined) data.source = f.source;
  if (Object.keys(data).length) cfg.data = data;
  if (f.model !== undefined) cfg.model = parseModelArg(f.model);
  if (f.epochs !== undefined) cfg.epochs = parsePositiveInt('--epochs', f.epochs);
  if (f.batchSize !== undefined) cfg.batchSize = parsePositiveInt('--batch-size', f.batchSize);
  if (f.lr !== undefined) cfg.optimizer = { ...((cfg.optimizer as PlainObject) ?? {}), lr: parseNumber('--lr', f.lr) };
  if (f.augment !== undefined) cfg.augment = f.augment;
  if (f.precision !== undefined) cfg.precision = f.precision;
  if (f.device !== undefined) cfg.device = f.device;
  if (f.threads !== undefined) cfg.threads = parsePositiveInt('--threads', f.threads);
  if (f.seed !== undefined) cfg.seed = parseNonNegativeInt('--seed', f.seed);
  if (f.nprocPerNode !== undefined) {
    cfg.distributed = { ...(typeof cfg.distributed === 'object' && cfg.distributed !== null ? (cfg.distributed as PlainObject) : {}), nprocPerNode: parsePositiveInt('--nproc-per-node', f.nprocPerNode) };
  }
  for (const o of parseSetOverrides(f.set ?? [])) {
    expandShorthand(cfg, o.path);
    setPath(cfg, o.path, o.value);
  }
  if (cfg.model === undefined) throw new UsageError('no model given: pass --model <preset> (see `ablate summary --help`) or a config file with `model:`');
  if (cfg.data === undefined) throw new UsageError('no data given: pass --data <path> (or --source generated) or a config file with `data:`');
  return cfg;
}

export async function trainCommand(file: string | undefined, f: TrainFlags): Promise<void> {
  if (f.mirror !== undefined) process.env.ABLATE_MIRROR = resolveMirror(f.mirror) ?? ''; // checked here, read by the data and weight fetchers
  const cfg = buildTrainConfig(file, f);
  const nproc = localRanksOf(cfg);
  const launched = readLaunchEnv();
  const { nodes, masterPort } = nodesOf(f);
  if (launched === null && (nproc > 1 || nodes !== undefined)) {
    resolveRunPlan(cfg); // a bad config is refused once, here, not by every rank
    const device = typeof cfg.device === 'string' ? cfg.device : 'cpu';
    const fit = await localRanksFit(nproc, device);
    if (fit.warning) process.stderr.write(fit.warning + '\n');
    // The same command once per rank: each child reads its rank from the environment, and its plan
    // (config.json) records the rank count, so `--resume` alone starts the same number again.
    // 130 (143) is how every rank ends after a Ctrl-C (SIGTERM), stopped together with a checkpoint: not a
    // failure of one; 75, a full disk, is none either. A rank that fails has its end recorded in status.json
    // (recordRankFailure).
    const r = await launchRunRanks(resolve(f.out), process.execPath, [...process.execArgv, ...process.argv.slice(1)], { nproc, nodes, masterPort, cleanCodes: [SIGNAL_EXIT.SIGINT, SIGNAL_EXIT.SIGTERM, SIGNAL_EXIT.SIGUSR1] });
    if (r.failure) process.stderr.write(`${rankFailureLine(r.failure)}${r.failure.status ? ` (status: ${r.failure.status})` : ''}\n`);
    // A rank's full disk is the run's: 75 as for one process, even where rank 0's "peer gone" exited first.
    process.exitCode = r.failure?.diskFull ? EXIT_TEMPFAIL : r.exitCode;
    return;
  }
  if (launched !== null && nproc > 1 && launched.localWorldSize !== nproc) {
    throw new UsageError(`the config asks for ${nproc} ranks on this machine (distributed.nprocPerNode / --nproc-per-node) but the launcher started ${launched.localWorldSize} (LOCAL_WORLD_SIZE): ` +
      'leave --nproc-per-node out under torchrun or srun, or make the two agree');
  }
  const runDir = resolve(f.out);
  // Never train into a run folder another live process owns (a study worker, another `ablate train`).
  // (A bad config is refused first, so it leaves no run folder behind.)
  resolveRunPlan(cfg); // every problem of the config at once (runTraining resolves it again, cheaply)
  ensureOutDir(runDir, 'run folder');
  // Rank 0 holds the folder for a data-parallel run; the other ranks write nothing there but their random state.
  const release = (readLaunchEnv()?.rank ?? 0) !== 0 ? () => {} : await acquireRunLock(runDir, { waitMs: 0, role: 'ablate train' }).catch((e: unknown) => {
    throw e instanceof RunBusyError ? new UsageError(e.message) : e;
  });
  const { signal, dispose } = interruptSignal('training');
  try {
    // The repository of the config file (or of the current folder), its own output aside.
    const provenance = (readLaunchEnv()?.rank ?? 0) !== 0 ? undefined : collectProvenance({ dir: file ? dirname(resolve(file)) : process.cwd(), exclude: [runDir] });
    // The training stack (and libtorch) is loaded once the config and the run folder were accepted.
    const { runTraining } = await import('../../train/run.js');
    const r = await runTraining(cfg, { runDir, resume: f.resume ?? false, signal, provenance }).catch((e: unknown) => {
      if (isDiskFull(e)) {
        // As `ablate study run` does: nothing is wrong with the run, and its last good checkpoint is intact.
        process.stderr.write(`\nDisk full: ${(e as Error).message}\nthe run stopped at its last good checkpoint; once there is space, resume with: ${resumeCommand()}\n`);
        process.exitCode = EXIT_TEMPFAIL;
        return null;
      }
      if (!(e instanceof InterruptedError)) throw e;
      process.stderr.write(`\n${e.message}\n`);
      return undefined;
    });
    if (r === null) return;
    if (!r) {
      process.exitCode = interruptExitCode(signal);
      // Preempted before training began (opening or decoding the data): the requeued job starts it again.
      if (wasPreempted(signal) && requeueWanted(f.requeue) && (readLaunchEnv()?.rank ?? 0) === 0) process.stderr.write(requeueSlurmJob().message + '\n');
      return;
    }
    // Rank 0 speaks for a data-parallel run.
    if ((readLaunchEnv()?.rank ?? 0) !== 0) return;
    const last = r.history[r.history.length - 1];
    const files = [RUN_FILES.metrics, RUN_FILES.history, `${RUN_FILES.checkpoints}/`, RUN_FILES.weights].filter((p) => existsSync(join(runDir, p)));
    // The reason for a divergence or a stop was already logged by the training loop.
    process.stderr.write(`\n${r.status}: ${r.epochsDone} epoch(s), ${r.imagesPerS.toFixed(1)} images/s` +
      (typeof last?.val_accuracy === 'number' ? `, final val_accuracy ${last.val_accuracy.toFixed(4)}` : '') +
      (r.bestValAccuracy !== undefined ? `, best ${r.bestValAccuracy.toFixed(4)} (epoch ${r.bestEpoch})` : '') +
      `\nrun folder: ${runDir}${files.length ? ` (${files.join(', ')})` : ''}\n`);
    if (r.status === 'stopped') {
      process.stderr.write(`resume with: ${resumeCommand()}\n`);
      process.exitCode = interruptExitCode(signal);
      if (wasPreempted(signal) && requeueWanted(f.requeue)) process.stderr.write(requeueSlurmJob().message + '\n');
    } else if (r.status === 'diverged') {
      process.exitCode = 2;
    }
  } finally {
    dispose();
    release();
  }
}

/** checkLocalRanks against this machine; GPUs and NCCL are looked at (loading libtorch) only for a CUDA run. */
async function localRanksFit(nproc: number, device: string): Promise<{ warning?: string }> {
  const cuda = device.startsWith('cuda') ? await import('../../tensor/index.js') : undefined;
  const gpus = cuda ? cuda.cudaDeviceCount() : 0;
  try {
    return checkLocalRanks(nproc, device, { cores: availableParallelism(), gpus, ncclProblem: cuda?.backendProblem('nccl') });
  } catch (e) {
    throw e instanceof LocalRanksError ? new UsageError(e.message) : e;
  }
}

/** The command that continues this run: the same arguments with --resume. */
function resumeCommand(): string {
  return `ablate train ${process.argv.slice(3).filter((a) => a !== '--resume').map(shellQuote).join(' ')} --resume`;
}

/** Quote an argument for a POSIX shell when it needs it, so the printed resume command can be pasted back. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
