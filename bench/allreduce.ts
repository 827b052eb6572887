// Gradient all-reduce of ResNet-50's 25.6 M parameters per step, 2 ranks on 127.0.0.1 with Gloo:
// ablate (libtorch's DDP Reducer through the addon) against PyTorch's DistributedDataParallel, the same
// bucket sizes (25 MB, first 1 MB), in the same run. Each step is a backward whose gradients are trivial
// to compute (loss = Σ c·p), so the time is the bucketed all-reduce itself.
// Usage: node --import tsx bench/allreduce.ts [--steps 20] [--warmup 3] [--threads 1]
// A speed-up from 2 ranks on a 2-core machine is not meaningful; only the ratio of the two is.
import { join } from 'node:path';
import { freeLocalPort } from '../src/train/launch.js';
import { BENCH_DIR, PYTHON, fmt, intFlag, machine, printTable, runJsonChild, saveResults, torchAvailable } from './lib/common.js';

const CHILD = join(BENCH_DIR, 'allreduce.ts');

async function rank(): Promise<void> {
  const { createModel } = await import('../src/models/index.js');
  const { ProcessGroup, GradientReducer, setNumThreads, zeros } = await import('../src/tensor/index.js');
  setNumThreads(Number(process.env.BENCH_THREADS ?? '1'));
  const shapes = createModel('resnet50').parameters().map((p) => p.shape);
  const params = shapes.map((s) => zeros(s).requiresGrad_());
  const numel = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  const group = ProcessGroup.init({ masterAddr: '127.0.0.1', masterPort: Number(process.env.MASTER_PORT), rank: Number(process.env.RANK), worldSize: 2, timeoutMs: 120_000 });
  const reducer = new GradientReducer(group, params, { bucketCapMb: 25, firstBucketCapMb: 1 });
  const steps = Number(process.env.STEPS), warmup = Number(process.env.WARMUP);
  const times: number[] = [];
  for (let s = 0; s < warmup + steps; s++) {
    group.barrier();
    const t0 = performance.now();
    const loss = params.map((p, k) => p.mul(k + 1).sum()).reduce((a, b) => { const c = a.add(b); a.dispose(); b.dispose(); return c; });
    reducer.backward(loss);
    loss.dispose();
    const dt = performance.now() - t0;
    for (const p of params) p.grad = null;
    if (s >= warmup) times.push(dt);
  }
  reducer.free();
  group.destroy();
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ ms: times[times.length >> 1], numel, buckets: reducer.buckets }));
}

const PY = String.raw`
import json, os, sys, time, torch, torch.distributed as dist
torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '1')))
shapes = json.loads(sys.argv[1])
dist.init_process_group('gloo', init_method='tcp://127.0.0.1:%s' % os.environ['MASTER_PORT'], rank=int(os.environ['RANK']), world_size=2)
class Grads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ps = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(s)) for s in shapes])
    def forward(self):
        return sum((p * (k + 1)).sum() for k, p in enumerate(self.ps))
m = torch.nn.parallel.DistributedDataParallel(Grads(), bucket_cap_mb=25)
steps, warmup = int(os.environ['STEPS']), int(os.environ['WARMUP'])
times = []
for s in range(warmup + steps):
    dist.barrier()
    t0 = time.perf_counter()
    m().backward()
    dt = (time.perf_counter() - t0) * 1000
    m.zero_grad(set_to_none=True)
    if s >= warmup: times.append(dt)
times.sort()
print(json.dumps({'ms': times[len(times) // 2], 'numel': sum(p.numel() for p in m.parameters())}))
dist.destroy_process_group()
`;

async function pair(kind: 'ablate' | 'torch', shapes: number[][], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const port = String(await freeLocalPort());
  const run = (r: number) => {
    const e = { ...env, MASTER_PORT: port, RANK: String(r), OMP_WAIT_POLICY: 'PASSIVE' };
    return kind === 'ablate'
      ? runJsonChild(process.execPath, ['--import', 'tsx', CHILD, '--rank'], e)
      : runJsonChild(PYTHON, ['-c', PY, JSON.stringify(shapes)], e);
  };
  const [r0] = await Promise.all([run(0), run(1)]);
  return r0;
}

if (process.argv.includes('--rank')) {
  await rank();
} else {
  const steps = intFlag('steps', 20);
  const warmup = intFlag('warmup', 3);
  const threads = intFlag('threads', 1);
  const { createModel } = await import('../src/models/index.js');
  const shapes = createModel('resnet50').parameters().map((p) => p.shape);
  const env = { ...process.env, STEPS: String(steps), WARMUP: String(warmup), BENCH_THREADS: String(threads) };
  const m = machine();
  console.log(`allreduce: ResNet-50 gradients (${shapes.length} tensors), 2 ranks on 127.0.0.1, Gloo, 25 MB buckets, ${steps} steps after ${warmup} warm-up; ${m.cores} cores, loadavg ${m.loadavg}`);
  const torch = await torchAvailable();
  const rows: (string | number)[][] = [];
  const ours = await pair('ablate', shapes, env);
  rows.push(['ablate (c10d Reducer)', fmt(ours.ms as number, 1), String(ours.numel), String(ours.buckets)]);
  let theirs: Record<string, unknown> | undefined;
  if (torch.ok) {
    theirs = await pair('torch', shapes, env);
    rows.push([`PyTorch ${torch.version} DDP`, fmt(theirs.ms as number, 1), String(theirs.numel), '']);
  } else console.log(`PyTorch side skipped: ${torch.reason}`);
  printTable(['side', 'ms/step (median)', 'gradients', 'buckets'], rows);
  const ratio = theirs ? (theirs.ms as number) / (ours.ms as number) : undefined;
  if (ratio !== undefined) console.log(`speed ratio ablate/PyTorch (PyTorch ms ÷ ablate ms): ${fmt(ratio, 2)}×; loadavg after ${machine().loadavg}`);
  saveResults('allreduce', { steps, warmup, threads, ablateMs: ours.ms, torchMs: theirs?.ms, ratio, numel: ours.numel, loadavg: machine().loadavg });
}
