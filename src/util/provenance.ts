/**
 * Where a run's code came from: the git commit of the study's (or ablate's) working tree, whether it had
 * uncommitted edits (and their diff), the lock file's hash, ablate's version, the command line and the
 * environment variables ablate and libtorch read. A report is evidence; this is its provenance.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync, statSync } from 'node:fs';
import { readRegularFileSync } from './regular-file.js';
import { join, relative, resolve, sep } from 'node:path';
import { ablateVersion } from './version.js';
import { writeFileAtomic } from './atomic.js';
import { packageRoot } from './package-root.js';

export interface GitProvenance {
  /** The repository's top folder. */
  root: string;
  /** HEAD's commit, or undefined in a repository without commits. */
  commit?: string;
  /** Tracked edits or untracked (not ignored) files beside the commit, the run's own output folder aside. */
  dirty: boolean;
  /** sha256 of the diff saved as the run's provenance.diff (dirty trees only). */
  diffSha256?: string;
  /** Why the diff could not be kept whole (too large); the tree is still marked dirty. */
  diffOmitted?: string;
}

export interface Provenance {
  /** The repository of `dir`, or why there is none (`not a git repository`, `git not found on PATH`, ...). */
  git: GitProvenance | { none: string };
  /** sha256 of ablate's package-lock.json, when it has one. */
  lockSha256?: string;
  ablateVersion: string;
  /** The process's full command line: node, its options, the script and its arguments (secrets redacted). */
  command: string[];
  /** The environment variables ablate, libtorch and its libraries read (secrets redacted). */
  env: Record<string, string>;
}

export interface ProvenanceOptions {
  /** The folder whose repository is recorded (the study file's folder); ablate's own checkout when it is not in one. */
  dir?: string;
  /** Folders left out of the dirty check and the diff: the run or study output (it lives in the tree). */
  exclude?: string[];
  argv?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Each git call; a hung git (a network filesystem, a lock) must not hold up training. */
const GIT_TIMEOUT_MS = 10_000;
/** A diff above this is not saved (a run folder is not the place for a data set someone forgot to ignore). */
const MAX_DIFF_BYTES = 32 * 1024 * 1024;
/** Untracked files above this are named in the diff's place, not copied into it. */
const MAX_UNTRACKED_BYTES = 4 * 1024 * 1024;

/** Variables read by ablate, libtorch, its BLAS and OpenMP, CUDA, NCCL, Gloo, the launchers and the Hugging Face hub. */
const ENV_PATTERN = /^(ABLATE_|OMP_|KMP_|OPENBLAS_|MKL_|GOTO_|LIBTORCH|TORCH_|PYTORCH_|CUDA_|CUBLAS_|CUDNN_|NCCL_|GLOO_|HF_|HUGGINGFACE_|MASTER_(ADDR|PORT)$|(LOCAL_)?(RANK|WORLD_SIZE)$|SLURM_(JOB_ID|ARRAY_JOB_ID|ARRAY_TASK_ID|PROCID|NTASKS|RESTART_COUNT)$)/;
const SECRET_NAME = /TOKEN|SECRET|PASSW|API_?KEY|CREDENTIAL|AUTH|PRIVATE/i;
const REDACTED = '<redacted>';

/** A value that looks like a credential: a Hugging Face token, a long opaque string, a URL's password. */
export function redactValue(v: string): string {
  let out = v.replace(/\b(hf_|ghp_|gho_|github_pat_|glpat-|sk-|xox[abp]-)[A-Za-z0-9_-]{8,}/g, REDACTED);
  out = out.replace(/(\/\/[^/\s:@]+:)[^@\s/]+@/g, `$1${REDACTED}@`);
  out = out.replace(/([?&](?:token|key|sig|signature|access_token|password)=)[^&\s]+/gi, `$1${REDACTED}`);
  // 32+ characters of mixed letters and digits with no separators: a key, not a path or a setting.
  out = out.replace(/\b(?=[A-Za-z0-9+/_-]*[0-9])(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}={0,2}/g, (m) => (/^[0-9a-f]{40}$/.test(m) ? m : REDACTED));
  return out;
}

export function provenanceEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(env).sort()) {
    const v = env[k];
    if (v === undefined || !ENV_PATTERN.test(k)) continue;
    out[k] = SECRET_NAME.test(k) ? REDACTED : redactValue(v);
  }
  return out;
}

/** The command line with secrets redacted: the value after a --token-like flag, and token-like values anywhere. */
export function provenanceCommand(argv: string[]): string[] {
  return argv.map((a, i) => {
    const prev = argv[i - 1] ?? '';
    if (/^--?[\w-]*(token|secret|password|api-?key)[\w-]*$/i.test(prev)) return REDACTED;
    const eq = /^(--?[\w-]*(token|secret|password|api-?key)[\w-]*=)/i.exec(a);
    return eq ? eq[1] + REDACTED : redactValue(a);
  });
}

type GitResult = { ok: true; out: Buffer } | { ok: false; missing: boolean; message: string; code?: number };

function git(cwd: string, args: string[], okCodes: number[] = [0]): GitResult {
  try {
    const out = execFileSync('git', args, {
      cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: MAX_DIFF_BYTES + 1024, stdio: ['ignore', 'pipe', 'pipe'],
      // Never a pager or a credential prompt; the repository's own config only.
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', LC_ALL: 'C', GIT_OPTIONAL_LOCKS: '0' },
    });
    return { ok: true, out };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; stdout?: Buffer; stderr?: Buffer; signal?: string };
    if (err.code === 'ENOENT') return { ok: false, missing: true, message: 'git not found on PATH' };
    if (typeof err.status === 'number' && okCodes.includes(err.status) && err.stdout) return { ok: true, out: err.stdout };
    const why = err.signal === 'SIGTERM' ? `git ${args[0]} took over ${GIT_TIMEOUT_MS / 1000} s`
      : err.code === 'ENOBUFS' ? `git ${args[0]} printed over ${MAX_DIFF_BYTES / 1024 / 1024} MiB`
        : (err.stderr?.toString().trim().split('\n')[0] || err.message);
    return { ok: false, missing: false, message: why, code: err.status ?? undefined };
  }
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `:(exclude)` pathspecs for the folders inside the repository (relative to its top). */
function excludeSpecs(root: string, exclude: string[]): string[] {
  const specs: string[] = [];
  for (const e of exclude) {
    const rel = relative(root, resolve(e));
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) continue;
    specs.push(`:(exclude,top)${rel.split(sep).join('/')}`);
  }
  return specs;
}

interface GitState { git: GitProvenance; diff?: Buffer }

function gitState(dir: string, exclude: string[]): GitState | { none: string } {
  if (!existsSync(dir)) return { none: `${dir} does not exist` };
  const top = git(dir, ['rev-parse', '--show-toplevel']);
  if (!top.ok) return { none: top.missing ? top.message : /not a git repository/i.test(top.message) ? 'not a git repository' : top.message };
  const root = top.out.toString().trim();
  const head = git(root, ['rev-parse', '--verify', '-q', 'HEAD']);
  const commit = head.ok ? head.out.toString().trim() : undefined;
  const specs = ['.', ...excludeSpecs(root, exclude)];
  const status = git(root, ['status', '--porcelain', '-z', '--untracked-files=all', '--', ...specs]);
  if (!status.ok) return { none: `git status failed in ${root}: ${status.message}` };
  const dirty = status.out.length > 0;
  const g: GitProvenance = { root, ...(commit ? { commit } : {}), dirty };
  if (!dirty) return { git: g };
  // Tracked edits (staged or not) against HEAD, then each untracked file as a new file: `git apply` on the commit recreates the tree.
  const parts: Buffer[] = [];
  if (commit) {
    const d = git(root, ['diff', '--binary', '--no-color', '--no-ext-diff', 'HEAD', '--', ...specs]);
    if (!d.ok) return { git: { ...g, diffOmitted: d.message } };
    parts.push(d.out);
  }
  const others = git(root, ['ls-files', '--others', '--exclude-standard', '-z', '--', ...specs]);
  const skipped: string[] = [];
  if (others.ok) {
    for (const f of others.out.toString().split('\0').filter((x) => x !== '')) {
      let size = 0;
      try { size = statSync(join(root, f)).size; } catch { continue; }
      if (size > MAX_UNTRACKED_BYTES) { skipped.push(f); continue; }
      // --no-index exits 1 when the files differ, which they always do here.
      const d = git(root, ['diff', '--binary', '--no-color', '--no-ext-diff', '--no-index', '--', '/dev/null', f], [1]);
      if (d.ok) parts.push(d.out);
      else skipped.push(f);
    }
  }
  const diff = Buffer.concat(parts);
  if (skipped.length) g.diffOmitted = `untracked files too large or unreadable left out: ${skipped.slice(0, 5).join(', ')}${skipped.length > 5 ? ` and ${skipped.length - 5} more` : ''}`;
  if (diff.length > MAX_DIFF_BYTES) return { git: { ...g, diffOmitted: `the diff is ${diff.length} bytes, over ${MAX_DIFF_BYTES}` } };
  return { git: { ...g, diffSha256: sha256(diff) }, diff };
}

export interface CollectedProvenance {
  provenance: Provenance;
  /** The dirty tree's diff, to save beside the run (its sha256 is in provenance.git.diffSha256). */
  diff?: Buffer;
}

/**
 * Reads the provenance of `dir` (the study file's folder) or, when that is no git repository, of ablate's own
 * checkout. Never throws for a missing git or a folder outside any repository: those are recorded as such.
 */
export function collectProvenance(o: ProvenanceOptions = {}): CollectedProvenance {
  const exclude = o.exclude ?? [];
  let state = gitState(resolve(o.dir ?? process.cwd()), exclude);
  const own = packageRoot();
  // Only a folder outside any repository falls back to ablate's checkout; a git that failed or timed out there is recorded.
  if ('none' in state && own && state.none === 'not a git repository') {
    const mine = gitState(own, exclude);
    if (!('none' in mine)) state = mine;
  }
  const lock = own ? join(own, 'package-lock.json') : undefined;
  let lockSha256: string | undefined;
  try { if (lock) lockSha256 = sha256(readRegularFileSync(lock, { what: 'lock file' })); } catch { /* an installed package has none */ }
  const argv = o.argv ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const provenance: Provenance = {
    git: 'none' in state ? { none: state.none } : state.git,
    ...(lockSha256 ? { lockSha256 } : {}),
    ablateVersion: ablateVersion(),
    command: provenanceCommand(argv),
    env: provenanceEnv(o.env ?? process.env),
  };
  return { provenance, diff: 'none' in state ? undefined : state.diff };
}

/**
 * Keeps a dirty tree's diff at `path` (a run folder's provenance.diff), or removes one an earlier start left when
 * the tree is clean now (the status's hash always describes the file beside it).
 */
export function saveProvenanceDiff(path: string, diff: Buffer | undefined): void {
  if (diff && diff.length > 0) writeFileAtomic(path, diff);
  else rmSync(path, { force: true });
}
