// Gradient all-reduce of ResNet-50's 25.6 M parameters per step, 2 ranks on 127.0.0.1 with Gloo:
// ablate (libtorch's DDP Reducer through the addon) against PyTorch's DistributedDataParallel, the same
// bucket sizes (25 MB, first 1 MB), in the same run. Each step is a forward and backward whose gradients
// are trivial to compute (loss = Σ c·p), so the time is the bucketed all-reduce itself.
// Both sides run the same libtorch (Debian's python3-torch is the same build), so the C++ path is the same;
// what differs is the host process and what each side does around the Reducer.
//
// Usage: node --import tsx bench/allreduce.ts [--steps 20] [--warmup 3] [--threads 1] [--rounds 3]
//   [--sides ablate,torch]   sides, run interleaved round by round (each round reverses the order):
//     ablate        the Reducer as DataParallel sets it up (src/train/data-parallel.ts)
//     ablate-copy   gradient_as_bucket_view off (DDP's default; ablate before it was turned on)
//     ablate-view   gradient_as_bucket_view on
//     ablate-kept   ablate-copy, and each step's products p·c stay alive until GC (this bench's ablate side before
//                   it disposed them: 100 MB of fresh pages per step that PyTorch, freeing each at once, reuses)
//     torch         DDP with its defaults; torch-view: gradient_as_bucket_view=True; torch-static: static_graph=True
// Each side reports medians over its steps of wall time, process CPU time (all threads) and minor page faults;
// the table shows the median of those over the rounds, with the load average at every run.
// A speed-up from 2 ranks on a 2-core machine is not meaningful; only the ratio of the two is.
// Across two network namespaces joined by a veth (two "hosts"): `bash scripts/multinode-check.sh DIR bench`.
import { join } from 'node:path';
import { freeLocalPort } from '../src/train/launch.js';
import { BENCH_DIR, PYTHON, fmt, intFlag, listFlag, loadavg, machine, median, printTable, runJsonChild, saveResults, torchAvailable } from './lib/common.js';

const CHILD = join(BENCH_DIR, 'allreduce.ts');
const SIDES = ['ablate', 'ablate-copy', 'ablate-view', 'ablate-kept', 'torch', 'torch-view', 'torch-static'] as const;
type Side = (typeof SIDES)[number];

interface RankResult { ms: number; fwdMs: number; metricSumMs?: number; cpuMs: number; faults: number; numel: number; buckets: number; bucketBytes: number[] }

async function rank(): Promise<void> {
  const { ProcessGroup, GradientReducer, setNumThreads, tensor, zeros } = await import('../src/tensor/index.js');
  const { DATA_PARALLEL_REDUCER } = await import('../src/train/data-parallel.js');
  setNumThreads(Number(process.env.BENCH_THREADS ?? '1'));
  const side = process.env.BENCH_SIDE as Side;
  const shapes = JSON.parse(process.argv[process.argv.length - 1]!) as number[][];
  const params = shapes.map((s) => zeros(s).requiresGrad_());
  const numel = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  const group = ProcessGroup.init({ masterAddr: process.env.MASTER_ADDR ?? '127.0.0.1', masterPort: Number(process.env.MASTER_PORT), rank: Number(process.env.RANK), worldSize: 2, timeoutMs: 120_000, interface: process.env.GLOO_SOCKET_IFNAME || undefined });
  const gradientAsBucketView = side === 'ablate' ? DATA_PARALLEL_REDUCER.gradientAsBucketView : side === 'ablate-view';
  const reducer = new GradientReducer(group, params, { ...DATA_PARALLEL_REDUCER, bucketCapMb: 25, firstBucketCapMb: 1, gradientAsBucketView });
  const steps = Number(process.env.STEPS), warmup = Number(process.env.WARMUP);
  const wall: number[] = [], fwd: number[] = [], cpu: number[] = [], faults: number[] = [], metricSum: number[] = [];
  const figures = tensor([1, 2, 3, 4, 5], [5], 'float64');
  // Σ_k (k+1)·Σ p_k. Each product is released as soon as it is summed, as Python's reference counting does on
  // the other side, so the allocator hands the next product the same warm pages.
  const kept = side === 'ablate-kept';
  const lossOf = () =>
    params
      .map((p, k) => {
        const prod = p.mul(k + 1);
        const s = prod.sum();
        if (!kept) prod.dispose();
        return s;
      })
      .reduce((a, b) => {
        const c = a.add(b);
        a.dispose();
        b.dispose();
        return c;
      });
  for (let s = 0; s < warmup + steps; s++) {
    group.barrier();
    const c0 = process.cpuUsage(), f0 = process.resourceUsage().minorPageFault, t0 = performance.now();
    const loss = lossOf();
    const t1 = performance.now();
    reducer.backward(loss);
    loss.dispose();
    const dt = performance.now() - t0;
    const c = process.cpuUsage(c0), f = process.resourceUsage().minorPageFault - f0;
    for (const p of params) p.grad = null;
    // What a data-parallel training step adds after backward: its figures summed over the ranks (DataParallel.sum).
    const m0 = performance.now();
    group.allReduce([figures]);
    const dm = performance.now() - m0;
    if (s >= warmup) {
      metricSum.push(dm);
      wall.push(dt);
      fwd.push(t1 - t0);
      cpu.push((c.user + c.system) / 1000);
      faults.push(f);
    }
  }
  reducer.free();
  group.destroy();
  const out: RankResult = { ms: median(wall), fwdMs: median(fwd), metricSumMs: median(metricSum), cpuMs: median(cpu), faults: median(faults), numel, buckets: reducer.buckets, bucketBytes: [...reducer.bucketBytes] };
  console.log(JSON.stringify(out));
}

const PY = `
import json, os, resource, sys, time, torch, torch.distributed as dist
torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '1')))
side = os.environ['BENCH_SIDE']
shapes = json.loads(sys.argv[1])
dist.init_process_group('gloo', init_method='tcp://%s:%s' % (os.environ.get('MASTER_ADDR', '127.0.0.1'), os.environ['MASTER_PORT']), rank=int(os.environ['RANK']), world_size=2)
class Grads(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ps = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(s)) for s in shapes])
    def forward(self):
        return sum((p * (k + 1)).sum() for k, p in enumerate(self.ps))
m = torch.nn.parallel.DistributedDataParallel(Grads(), bucket_cap_mb=25, gradient_as_bucket_view=side == 'torch-view', static_graph=side == 'torch-static')
steps, warmup = int(os.environ['STEPS']), int(os.environ['WARMUP'])
wall, fwd, cpu, faults = [], [], [], []
med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
for s in range(warmup + steps):
    dist.barrier()
    c0, f0, t0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    loss = m()
    t1 = time.perf_counter()
    loss.backward()
    dt = (time.perf_counter() - t0) * 1000
    c, f = (time.process_time() - c0) * 1000, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    del loss
    m.zero_grad(set_to_none=True)
    if s >= warmup:
        wall.append(dt); fwd.append((t1 - t0) * 1000); cpu.append(c); faults.append(f)
d = m._get_ddp_logging_data()
sizes = [int(x) for x in str(d.get('rebuilt_bucket_sizes') or d.get('bucket_sizes') or '').replace(' ', '').split(',') if x]
print(json.dumps({'ms': med(wall), 'fwdMs': med(fwd), 'cpuMs': med(cpu), 'faults': med(faults), 'numel': sum(p.numel() for p in m.parameters()), 'buckets': len(sizes), 'bucketBytes': sizes}))
dist.destroy_process_group()
`;

// BENCH_NETNS=a,b (scripts/multinode-check.sh's `bench` phase): rank r runs in network namespace r, the two
// meeting at MASTER_ADDR over the veth GLOO_SOCKET_IFNAME names, both sides alike.
const NETNS = process.env.BENCH_NETNS?.split(',');

async function pair(side: Side, shapes: number[][], env: NodeJS.ProcessEnv): Promise<RankResult & { loadavg: string }> {
  const port = NETNS ? String(29450 + Math.floor(Math.random() * 400)) : String(await freeLocalPort());
  const run = (r: number) => {
    const e = { ...env, MASTER_PORT: port, RANK: String(r), OMP_WAIT_POLICY: 'PASSIVE', BENCH_SIDE: side };
    const [cmd, args] = side.startsWith('ablate') ? [process.execPath, ['--import', 'tsx', CHILD, '--rank', JSON.stringify(shapes)]] : [PYTHON, ['-c', PY, JSON.stringify(shapes)]];
    return NETNS ? runJsonChild('ip', ['netns', 'exec', NETNS[r]!, cmd, ...args], e) : runJsonChild(cmd, args, e);
  };
  const [r0] = await Promise.all([run(0), run(1)]);
  return { ...(r0 as unknown as RankResult), loadavg: loadavg() };
}

if (process.argv.includes('--rank')) {
  await rank();
} else {
  const steps = intFlag('steps', 20);
  const warmup = intFlag('warmup', 3);
  const threads = intFlag('threads', 1);
  const rounds = intFlag('rounds', 3);
  const sides = listFlag('sides', 'ablate,torch') as Side[];
  for (const s of sides) if (!SIDES.includes(s)) throw new TypeError(`Expected --sides from ${SIDES.join(', ')} but received ${JSON.stringify(s)}`);
  const { createModel } = await import('../src/models/index.js');
  const shapes = createModel('resnet50').parameters().map((p) => p.shape);
  const env = { ...process.env, STEPS: String(steps), WARMUP: String(warmup), BENCH_THREADS: String(threads) };
  const m = machine();
  const where = NETNS ? `2 ranks in network namespaces ${NETNS.join(' and ')} over a veth (${process.env.GLOO_SOCKET_IFNAME ?? 'default interface'}, master ${process.env.MASTER_ADDR})` : '2 ranks on 127.0.0.1';
  console.log(`allreduce: ResNet-50 gradients (${shapes.length} tensors), ${where}, Gloo, 25 MB buckets, ${steps} steps after ${warmup} warm-up, ${rounds} interleaved rounds; ${m.cores} cores, loadavg ${m.loadavg}`);
  const torch = await torchAvailable();
  const chosen = sides.filter((s) => s.startsWith('ablate') || torch.ok);
  if (!torch.ok) console.log(`PyTorch sides skipped: ${torch.reason}`);
  const runs = new Map<Side, (RankResult & { loadavg: string })[]>(chosen.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 ? [...chosen].reverse() : chosen) {
      const res = await pair(side, shapes, env);
      runs.get(side)!.push(res);
      console.log(`  round ${r + 1} ${side}: ${fmt(res.ms)} ms wall, ${fmt(res.cpuMs)} ms CPU, ${res.faults} minor faults per step (loadavg ${res.loadavg})`);
    }
  }
  const summary = chosen.map((side) => {
    const rs = runs.get(side)!;
    const pick = (k: 'ms' | 'fwdMs' | 'cpuMs' | 'faults') => median(rs.map((x) => x[k]));
    return { side, ms: pick('ms'), fwdMs: pick('fwdMs'), metricSumMs: side.startsWith('ablate') ? median(rs.map((x) => x.metricSumMs!)) : undefined, cpuMs: pick('cpuMs'), faults: pick('faults'), numel: rs[0]!.numel, buckets: rs[0]!.buckets, bucketBytes: rs[0]!.bucketBytes, loadavgs: rs.map((x) => x.loadavg) };
  });
  const label = (s: Side) => (s.startsWith('torch') && torch.ok ? `PyTorch ${torch.version} ${s === 'torch' ? 'DDP' : s.slice(6)}` : s);
  printTable(
    ['side', 'ms/step', 'forward ms', 'CPU ms/step', 'minor faults', 'buckets (MB)'],
    summary.map((s) => [label(s.side), fmt(s.ms), fmt(s.fwdMs), fmt(s.cpuMs), String(s.faults), `${s.buckets}: ${s.bucketBytes.map((b) => fmt(b / 2 ** 20)).join(' ')}`]),
  );
  for (const s of summary) if (s.metricSumMs !== undefined) console.log(`${s.side}: summing a step's figures over the ranks after it (DataParallel.sum) takes ${fmt(s.metricSumMs, 2)} ms`);
  const ours = summary.find((s) => s.side === 'ablate') ?? summary.find((s) => s.side.startsWith('ablate'));
  const theirs = summary.find((s) => s.side === 'torch');
  const ratio = ours && theirs ? theirs.ms / ours.ms : undefined;
  if (ratio !== undefined) console.log(`speed ratio ablate/PyTorch (PyTorch ms ÷ ablate ms, medians of ${rounds} rounds): ${fmt(ratio, 2)}×; CPU time ratio ${fmt(theirs!.cpuMs / ours!.cpuMs, 2)}×; loadavg after ${machine().loadavg}`);
  saveResults(NETNS ? 'allreduce-multinode' : 'allreduce', { steps, warmup, threads, rounds, sides: summary, ablateMs: ours?.ms, torchMs: theirs?.ms, ratio, numel: ours?.numel, loadavg: machine().loadavg });
}
