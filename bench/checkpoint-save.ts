// Memory and time of a training checkpoint save (issue #17: peak RSS ≤ 1.0× PyTorch's). Per model a fresh process
// trains a few steps (SGD momentum 0.9, so the optimizer holds a momentum buffer per parameter), hands freed pages
// back, resets its peak resident set (VmHWM, via /proc/self/clear_refs) and saves checkpoints/last.pth with
// saveTrainingCheckpoint, as the fit loop does; it reports the resident set before the save, the peak during it, the
// save's wall time and the file's SHA-256 (the same state gives the same bytes with any writer version: compare the
// digests of two checkouts). PyTorch does the same around torch.save({'model': ..., 'optimizer': ...}) for reference.
//
// Usage: node --import tsx bench/checkpoint-save.ts [--models resnet34,resnet50] [--precisions bf16,fp32]
//          [--size 64] [--batch 8] [--steps 2] [--saves 2] [--threads 2] [--no-torch] [--out results.json]
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import {
  F, releaseFreeHostMemory, setNumThreads, tidy, withAutocast, type Tensor,
} from '../src/tensor/index.js';
import * as models from '../src/models/index.js';
import { STATE_FORMAT, checkpointPath, saveTrainingCheckpoint, type TrainingState } from '../src/train/checkpoint.js';
import { PYTHON, benchScript, fmt, flag, hasFlag, intFlag, listFlag, loadavg, printTable, runJsonChild, saveResults, torchAvailable } from './lib/common.js';
import { trainingSetup } from './lib/training-setup.js';

function statusKb(): { hwm: number; rss: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
}
/** Hashed through a small buffer: reading the file whole would put its size on the next save's resident set. */
function fileSha256(path: string): { sha256: string; bytes: number } {
  const h = createHash('sha256');
  const buf = new Uint8Array(1 << 20);
  const fd = openSync(path, 'r');
  let bytes = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
      h.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: h.digest('hex'), bytes };
}
/** Resets VmHWM to the current resident set (Linux ≥ 4.0), so the next reading is this section's own peak. */
const resetPeak = (): void => writeFileSync('/proc/self/clear_refs', '5');

interface SaveResult { rssBeforeMiB: number; peakMiB: number; addedMiB: number; ms: number; fileMiB: number; sha256: string }
/** Where a streamed save's time goes: one pass over every tensor's memory through the 1 MiB chunk, alone and with each hash. */
interface Breakdown { copyMs: number; crcMs: number; sha256Ms: number; mib: number }
interface ChildResult { side: string; model: string; precision: string; trainingPeakMiB: number; saves: SaveResult[]; processPeakMiB: number; breakdown?: Breakdown; load: string }

async function child(): Promise<void> {
  const modelName = flag('model', 'resnet34');
  const bf16 = flag('precision', 'bf16') === 'bf16';
  const size = intFlag('size', 64);
  const batch = intFlag('batch', 8);
  setNumThreads(intFlag('threads', 2));
  const { model, opt, x, y } = trainingSetup(modelName, { size, batch, bf16 });
  for (let i = 0; i < intFlag('steps', 2); i++) {
    tidy(() => {
      const logits = bf16 ? withAutocast({ device: 'cpu', dtype: 'bfloat16' }, () => model.forward(x)) : model.forward(x);
      F.crossEntropy(logits.float(), y).backward();
    });
    opt.step({ zeroGrad: true });
  }
  const trainingPeakMiB = statusKb().hwm / 1024;
  const runDir = mkdtempSync(join(tmpdir(), 'ablate-ckpt-bench-'));
  const state: TrainingState = {
    format: STATE_FORMAT, epoch: 0, batchInEpoch: 2, epochComplete: false, globalStep: 2,
    optimizer: { kind: 'sgd', step: 2, hyper: { lr: 0.01, momentum: 0.9 } }, schedule: null, callbacks: {}, generators: {},
    accum: { lossSum: 0, correct: 0, correctTop5: 0, seen: 0, waitMs: 0, stepMs: 0, epochMs: 0 },
    trainTimeS: 0, trainImages: 0, epochs: [], configHash: 'bench',
  };
  const saves: SaveResult[] = [];
  for (let i = 0; i < intFlag('saves', 2); i++) {
    // What the fit loop's state is at a checkpoint: the step's garbage freed; saveTrainingCheckpoint trims itself.
    releaseFreeHostMemory();
    const before = statusKb().rss;
    resetPeak();
    const t0 = performance.now();
    await saveTrainingCheckpoint(runDir, model.stateDict(), opt.state(), {}, state, { keepPrevious: i > 0 });
    const ms = performance.now() - t0;
    const peak = statusKb().hwm;
    const file = fileSha256(checkpointPath(runDir, 'last'));
    saves.push({ rssBeforeMiB: before / 1024, peakMiB: peak / 1024, addedMiB: (peak - before) / 1024, ms, fileMiB: file.bytes / 2 ** 20, sha256: file.sha256 });
  }
  rmSync(runDir, { recursive: true, force: true });
  // With the streaming writer only (tensorSource): the cost of copying each part out of tensor memory, which a
  // native write straight from tensor memory to the file would save, against the hashes the save needs anyway.
  let breakdown: Breakdown | undefined;
  const source = (models as unknown as Record<string, unknown>).tensorSource as ((t: Tensor) => { read(sink: (b: Uint8Array) => void): void }) | undefined;
  if (source) {
    const all = [...model.stateDict().values(), ...opt.state().tensors.values()].map(source);
    const pass = (sink: (b: Uint8Array) => void): number => {
      const t0 = performance.now();
      for (const s of all) s.read(sink);
      return performance.now() - t0;
    };
    let bytes = 0;
    pass(() => {}); // warm
    const copyMs = pass((b) => { bytes += b.length; });
    let c = 0;
    const crcMs = pass((b) => { c = crc32(b, c); });
    const h = createHash('sha256');
    const sha256Ms = pass((b) => h.update(b));
    breakdown = { copyMs, crcMs, sha256Ms, mib: bytes / 2 ** 20 };
  }
  const out: ChildResult = { side: 'ablate', model: modelName, precision: bf16 ? 'bf16' : 'fp32', trainingPeakMiB, saves, processPeakMiB: Math.max(trainingPeakMiB, ...saves.map((s) => s.peakMiB)), breakdown, load: loadavg() };
  process.stdout.write(JSON.stringify(out) + '\n');
}

const TORCH_CHILD = `
import ctypes, hashlib, json, os, sys, tempfile, time, torch, torchvision
model_name, precision, size, batch, steps, saves, threads = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:8])
torch.set_num_threads(threads)
def kb(key):
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'): return int(line.split()[1])
torch.manual_seed(0)
m = getattr(torchvision.models, model_name)()
bf16 = precision == 'bf16'
if bf16: m = m.to(memory_format=torch.channels_last)
m.train()
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(batch, 3, size, size)
if bf16: x = x.contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 1000, (batch,))
for _ in range(steps):
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        logits = m(x)
    torch.nn.functional.cross_entropy(logits.float(), y).backward()
    opt.step(); opt.zero_grad(set_to_none=True)
training_peak = kb('VmHWM') / 1024
d = tempfile.mkdtemp(prefix='torch-ckpt-bench-')
out = []
libc = ctypes.CDLL('libc.so.6')
for i in range(saves):
    libc.malloc_trim(0)
    before = kb('VmRSS')
    open('/proc/self/clear_refs', 'w').write('5')
    t0 = time.perf_counter()
    tmp = os.path.join(d, 'last.pth.tmp')
    with open(tmp, 'wb') as f:
        torch.save({'model': m.state_dict(), 'optimizer': opt.state_dict()}, f)
        f.flush(); os.fsync(f.fileno())
    os.replace(tmp, os.path.join(d, 'last.pth'))
    ms = (time.perf_counter() - t0) * 1000
    peak = kb('VmHWM')
    size_b = os.path.getsize(os.path.join(d, 'last.pth'))
    out.append({'rssBeforeMiB': before / 1024, 'peakMiB': peak / 1024, 'addedMiB': (peak - before) / 1024, 'ms': ms, 'fileMiB': size_b / 2**20, 'sha256': ''})
print(json.dumps({'side': 'pytorch', 'model': model_name, 'precision': precision, 'trainingPeakMiB': training_peak, 'saves': out,
                  'processPeakMiB': max([training_peak] + [s['peakMiB'] for s in out]), 'load': open('/proc/loadavg').read().split()[:3]}))
`;

async function main(): Promise<void> {
  const models = listFlag('models', 'resnet34,resnet50');
  const precisions = listFlag('precisions', 'bf16');
  const common = ['--size', String(intFlag('size', 64)), '--batch', String(intFlag('batch', 8)), '--steps', String(intFlag('steps', 2)), '--saves', String(intFlag('saves', 2)), '--threads', String(intFlag('threads', 2))];
  const torch = hasFlag('no-torch') ? { ok: false as const, reason: '--no-torch' } : await torchAvailable();
  const results: ChildResult[] = [];
  for (const model of models) for (const precision of precisions) {
    process.stdout.write(`  ${model} ${precision} …`);
    results.push(await runJsonChild(process.execPath, [...benchScript('checkpoint-save'), '--child', '--model', model, '--precision', precision, ...common]) as unknown as ChildResult);
    if (torch.ok) {
      const a = (i: string) => common[common.indexOf(`--${i}`) + 1]!;
      results.push(await runJsonChild(PYTHON, ['-c', TORCH_CHILD, model, precision, a('size'), a('batch'), a('steps'), a('saves'), a('threads')]) as unknown as ChildResult);
    }
    process.stdout.write(' done\n');
  }
  console.log(`\nCheckpoint saves after ${intFlag('steps', 2)} steps at ${intFlag('size', 64)}², batch ${intFlag('batch', 8)}, SGD momentum 0.9 (MiB; 'added' = peak during the save − resident set before it)`);
  printTable(['side', 'model', 'precision', 'save', 'RSS before', 'peak in save', 'added', 'ms', 'file MiB', 'training peak', 'process peak', 'sha256', 'load'],
    results.flatMap((r) => r.saves.map((s, i) => [r.side, r.model, r.precision, i + 1, fmt(s.rssBeforeMiB), fmt(s.peakMiB), fmt(s.addedMiB), fmt(s.ms, 0), fmt(s.fileMiB), fmt(r.trainingPeakMiB), fmt(r.processPeakMiB), s.sha256.slice(0, 12), String(r.load)])));
  const split = results.filter((r) => r.breakdown);
  if (split.length > 0) {
    console.log('\nOne pass over every tensor (weights + momentum) through the 1 MiB chunk, ms');
    printTable(['model', 'precision', 'MiB', 'copy only', '+ CRC-32', '+ SHA-256'], split.map((r) => [r.model, r.precision, fmt(r.breakdown!.mib), fmt(r.breakdown!.copyMs), fmt(r.breakdown!.crcMs), fmt(r.breakdown!.sha256Ms)]));
  }
  if (!torch.ok) console.log(`(PyTorch skipped: ${torch.reason})`);
  console.log(`results: ${saveResults('checkpoint-save', { load: loadavg(), results })}`);
}

if (hasFlag('child')) await child();
else await main();
