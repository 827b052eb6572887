// scripts/gpu-check.sh on a machine without a GPU: it finds out, says so, records why and exits 2 before building
// or measuring anything. (On a GPU machine it is the whole CUDA check; see the script's header. Its --dry-run, which
// builds against a CPU PyTorch, takes minutes: scripts/compat.sh --run 'bash scripts/gpu-check.sh --dry-run'.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../train/run-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'ablate-gpu-check-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function gpuCheck(python: string, out: string, args: string[] = []): { status: number | null; output: string } {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'gpu-check.sh'), ...args], {
    env: { ...process.env, OUT: out, LIBTORCH_PYTHON: python }, encoding: 'utf8', timeout: 120000,
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

/** A python that has no torch. */
function pythonWithoutTorch(): string {
  const shim = join(tmp, 'python-without-torch');
  writeFileSync(shim, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
  chmodSync(shim, 0o755);
  return shim;
}

test('without PyTorch it says which python lacks it and exits 2', () => {
  const shim = pythonWithoutTorch();
  const out = join(tmp, 'out-no-torch');
  const r = gpuCheck(shim, out);
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /no PyTorch in .*python-without-torch \(ModuleNotFoundError: No module named 'torch'\): install a CUDA PyTorch/);
  assert.equal(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).status, 'nogpu');
  assert.ok(!existsSync(join(out, 'info.json')), 'nothing built or measured');
});

test('--dry-run still needs a PyTorch to build against, and an unknown argument is refused', () => {
  const shim = pythonWithoutTorch();
  const out = join(tmp, 'out-dry-no-torch');
  const r = gpuCheck(shim, out, ['--dry-run']);
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /dry run: everything up to the CUDA parts/);
  assert.match(r.output, /no PyTorch in .*python-without-torch/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual([summary.status, summary.dryRun], ['nogpu', true]);
  const bad = gpuCheck(shim, join(tmp, 'out-bad'), ['--dryrun']);
  assert.equal(bad.status, 64);
  assert.match(bad.output, /unknown argument --dryrun \(expected --dry-run or --help\)/);
});

const debianTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
test('with a PyTorch that sees no GPU it says so, records the PyTorch, and exits 2', { skip: debianTorch ? false : '/usr/bin/python3 has no torch (scripts/setup.sh --test installs it)' }, () => {
  const out = join(tmp, 'out-cpu');
  const r = gpuCheck('/usr/bin/python3', out);
  assert.equal(r.status, 2, r.output);
  assert.match(r.output, /no GPU: torch \S+ \(CUDA [^)]+\) sees no CUDA device/);
  const pt = JSON.parse(readFileSync(join(out, 'pytorch.json'), 'utf8'));
  assert.equal(pt.cuda_available, false);
  assert.deepEqual(pt.devices, []);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.status, 'nogpu');
  assert.match(summary.reason, /sees no CUDA device/);
  assert.match(readFileSync(join(out, 'gpu-check.log'), 'utf8'), /no GPU: /);
});
