import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, writeFileSync, existsSync } from 'node:fs';
import { packageRoot } from '../../src/util/package-root.js';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { collectProvenance, provenanceCommand, provenanceEnv } from '../../src/util/provenance.js';
import { runStudy } from '../../src/study/runner.js';
import { readRunStatus } from '../../src/run/run-folder.js';
import { tmp, writeStudy } from './live-fixtures.js';
import { readEventDir } from '../train/tb-reader.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();

/** A repository with one commit holding notes.txt, and its root. */
function repo(): string {
  const root = tmp('ablate-prov-');
  git(root, 'init', '-q');
  writeFileSync(join(root, 'notes.txt'), 'one\ntwo\n');
  git(root, 'add', '-A');
  git(root, 'commit', '-q', '-m', 'first');
  return root;
}

/** `git apply --check` of a diff on a fresh clone of `commit`: the diff recreates the tree the run saw. */
function appliesTo(root: string, commit: string, diffFile: string): void {
  const clone = tmp('ablate-prov-clone-');
  git(clone, 'clone', '-q', root, 'c');
  git(join(clone, 'c'), 'checkout', '-q', commit);
  git(join(clone, 'c'), 'apply', '--check', diffFile);
}

describe('collectProvenance', () => {
  test('a clean tree: its commit, not dirty, no diff', () => {
    const root = repo();
    const { provenance, diff } = collectProvenance({ dir: root });
    assert.ok(!('none' in provenance.git));
    assert.equal(provenance.git.commit, git(root, 'rev-parse', 'HEAD'));
    assert.equal(provenance.git.dirty, false);
    assert.equal(diff, undefined);
    assert.match(provenance.lockSha256 ?? '', /^[0-9a-f]{64}$/);
  });

  test('a dirty tree: edits and untracked files in a diff that applies to the commit; the output folder left out', () => {
    const root = repo();
    writeFileSync(join(root, 'notes.txt'), 'one\nthree\n');
    writeFileSync(join(root, 'new.txt'), 'brand new\n');
    mkdirSync(join(root, 'runs', 'x'), { recursive: true });
    writeFileSync(join(root, 'runs', 'x', 'model.pth'), 'weights');
    const { provenance, diff } = collectProvenance({ dir: root, exclude: [join(root, 'runs')] });
    assert.ok(!('none' in provenance.git));
    assert.equal(provenance.git.dirty, true);
    assert.ok(diff);
    assert.equal(provenance.git.diffSha256, createHash('sha256').update(diff).digest('hex'));
    const text = diff.toString();
    assert.match(text, /\+three/);
    assert.match(text, /new\.txt/);
    assert.doesNotMatch(text, /model\.pth/);
    const file = join(tmp(), 'p.diff');
    writeFileSync(file, diff);
    appliesTo(root, provenance.git.commit!, file);
  });

  test('only the output folder changed: clean', () => {
    const root = repo();
    mkdirSync(join(root, 'out'));
    writeFileSync(join(root, 'out', 'status.json'), '{}');
    const { provenance } = collectProvenance({ dir: root, exclude: [join(root, 'out')] });
    assert.ok(!('none' in provenance.git) && provenance.git.dirty === false);
  });

  test("a folder outside any repository: ablate's own checkout is recorded, or that there is none", () => {
    const { provenance } = collectProvenance({ dir: tmp('ablate-prov-none-') });
    const own = packageRoot()!;
    if (existsSync(join(own, '.git'))) {
      assert.ok(!('none' in provenance.git), JSON.stringify(provenance.git));
      assert.equal(realpathSync(provenance.git.root), realpathSync(own));
    } else {
      assert.deepEqual(provenance.git, { none: 'not a git repository' });
    }
  });

  test('no git on PATH is recorded as such, never an error', () => {
    const root = repo();
    const path = process.env.PATH;
    process.env.PATH = tmp('ablate-empty-path-');
    try {
      const { provenance } = collectProvenance({ dir: root });
      assert.deepEqual(provenance.git, { none: 'git not found on PATH' });
    } finally {
      process.env.PATH = path;
    }
  });

  test('environment: only the variables ablate and libtorch read, secrets redacted', () => {
    const env = provenanceEnv({
      OMP_NUM_THREADS: '2', HOME: 'a-home-folder', HF_TOKEN: 'hf_abcdefghijklmnopqrstuvwxyz', ABLATE_MIRROR: 'https://me:s3cret@mirror.example/data',
      ABLATE_CACHE: '/tmp/c', AWS_SECRET_ACCESS_KEY: 'x', HF_ENDPOINT: 'https://hf.example/?token=abc123',
    });
    assert.deepEqual(env, {
      ABLATE_CACHE: '/tmp/c', ABLATE_MIRROR: 'https://me:<redacted>@mirror.example/data', HF_ENDPOINT: 'https://hf.example/?token=<redacted>',
      HF_TOKEN: '<redacted>', OMP_NUM_THREADS: '2',
    });
    assert.deepEqual(provenanceCommand(['node', 'ablate', 'fetch', '--token', 'abc', '--hf-token=xyz', 'hf_abcdefghijklmnop1234', 'runs/x']),
      ['node', 'ablate', 'fetch', '--token', '<redacted>', '--hf-token=<redacted>', '<redacted>', 'runs/x']);
  });
});

describe('a study run from a dirty tree, then resumed at another commit', () => {
  test('each run records its commit and diff; the report flags the mixed commits', async () => {
    const root = repo();
    const file = writeStudy(root, { seeds: [0, 1], base: { epochs: 1, tensorboard: true } });
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'study');
    const first = git(root, 'rev-parse', 'HEAD');
    writeFileSync(join(root, 'notes.txt'), 'edited before the first run\n');
    const out = join(root, 'runs', 'tiny');
    const quiet = { out, threads: 1, childOutput: 'quiet' as const, log: () => {} };
    const a = await runStudy(file, { ...quiet, only: ['base-seed0'] });
    assert.deepEqual(a.ran, ['base-seed0']);
    const runA = join(out, 'base-seed0');
    const stA = readRunStatus(runA)!;
    assert.equal(stA.status, 'ok');
    const pa = stA.env!.provenance!;
    assert.ok(!('none' in pa.git));
    assert.equal(pa.git.commit, first);
    assert.equal(pa.git.dirty, true);
    const diffA = readFileSync(join(runA, 'provenance.diff'));
    assert.equal(pa.git.diffSha256, createHash('sha256').update(diffA).digest('hex'));
    // The run's own outputs inside the tree are not an edit.
    assert.doesNotMatch(diffA.toString(), /history\.jsonl|status\.json/);
    appliesTo(root, first, join(runA, 'provenance.diff'));
    assert.ok(pa.command.some((c) => c.includes('provenance.test')), 'the command line is recorded');
    // TensorBoard's HParams session of a study run: its axes (none here but the seed).
    const start = readEventDir(join(runA, 'tensorboard')).events.flatMap((e) => e.plugins ?? []).find((p) => p.hparamsStart);
    assert.deepEqual(start?.hparamsStart?.hparams, { seed: 0 });

    git(root, 'commit', '-q', '-am', 'second');
    const second = git(root, 'rev-parse', 'HEAD');
    const b = await runStudy(file, quiet);
    assert.deepEqual(b.ran, ['base-seed1']);
    const runB = join(out, 'base-seed1');
    const pb = readRunStatus(runB)!.env!.provenance!;
    assert.ok(!('none' in pb.git));
    assert.equal(pb.git.commit, second);
    assert.equal(pb.git.dirty, false);
    assert.equal(existsSync(join(runB, 'provenance.diff')), false);

    const model = b.report!.model;
    const code = model.environment.find((r) => r.label === 'Code (git commit)')!;
    assert.match(code.value, new RegExp(`${first.slice(0, 12)} \\+ uncommitted edits \\(diff ${pa.git.diffSha256!.slice(0, 8)}\\): base-seed0`));
    assert.match(code.value, new RegExp(`${second.slice(0, 12)} \\(clean\\): base-seed1`));
    const flag = model.problems.find((p) => /2 different commits/.test(p.message));
    assert.ok(flag, `a problem flags the mixed commits: ${JSON.stringify(model.problems)}`);
    assert.match(readFileSync(b.report!.markdown, 'utf8'), /2 different commits/);
  });
});
