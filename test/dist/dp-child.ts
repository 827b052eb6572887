// One rank of a data-parallel test (or, with WORLD_SIZE unset, the single-process reference): a small
// conv net trained with SGD on a fixed batch; rank r takes rows r, r+W, … of it. Prints one JSON line per
// step: the loss on its rows and a digest of every parameter after the step. BN=sync|local puts a batch
// norm after the first conv: SyncBatchNorm (statistics of the whole batch) or each rank's own. GRAD_VIEW=1|0
// chooses the Reducer's gradient_as_bucket_view (by default, what DataParallel uses). GLOO_SOCKET_IFNAME is
// Gloo's interface, as DataParallel reads it (scripts/multinode-check.sh runs ranks on two namespaces' veths).
// DEVICE=cuda trains on cuda:<RANK> (the data on the CPU first, so every device sees the same values);
// BACKEND=gloo|nccl picks the process group's backend (default gloo), and GROUP=1 makes one even for
// WORLD_SIZE=1 (NCCL's whole path on one GPU). With a group, a last line {"sums"} checks the collectives
// outside the reducer: a CPU float64 all-reduce (Gloo beside NCCL), one on the device, and a barrier.
import { createHash } from 'node:crypto';
import { F, Generator, ProcessGroup, GradientReducer, SGD, ones, randn, tensor, tidy, zeros, setNumThreads, type DistBackend, type Tensor } from '../../src/tensor/index.js';
import { DATA_PARALLEL_REDUCER } from '../../src/train/data-parallel.js';

setNumThreads(1);
const world = Number(process.env.WORLD_SIZE ?? '1');
const rank = Number(process.env.RANK ?? '0');
const steps = Number(process.env.STEPS ?? '5');
const stallAfter = Number(process.env.STALL_AFTER ?? '-1');
const bn = process.env.BN;
const device = process.env.DEVICE === 'cuda' ? `cuda:${rank}` : 'cpu';
const backend = (process.env.BACKEND ?? 'gloo') as DistBackend;
const on = (t: Tensor): Tensor => (device === 'cpu' ? t : t.to({ device }));

const g = new Generator(7);
const params = [randn([8, 3, 3, 3], { generator: g }).mul(0.3), zeros([8]), randn([16, 8, 3, 3], { generator: g }).mul(0.2), zeros([16]), randn([4, 16], { generator: g }).mul(0.2), zeros([4])].map(on);
for (const p of params) p.requiresGrad_();
const [w1, b1, w2, b2, fw, fb] = params as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
const gamma = on(ones([8]).add(randn([8], { generator: g }).mul(0.1))).requiresGrad_();
const beta = on(randn([8], { generator: g }).mul(0.1)).requiresGrad_();
const runningMean = on(zeros([8]));
const runningVar = on(ones([8]));
if (bn) params.push(gamma, beta);
const N = 8;
const xAll = randn([N, 3, 16, 16], { generator: g });
const yAll = tensor([0, 1, 2, 3, 0, 1, 2, 3], [N], 'int64');
const rows = tensor(Array.from({ length: N / world }, (_, k) => rank + k * world), [N / world], 'int64');
const x = on(xAll.indexSelect(0, rows));
const y = on(yAll.indexSelect(0, rows));

let group: ProcessGroup | null = null;
let reducer: GradientReducer | null = null;
if (world > 1 || process.env.GROUP === '1') {
  group = ProcessGroup.init({ masterAddr: process.env.MASTER_ADDR!, masterPort: Number(process.env.MASTER_PORT), rank, worldSize: world, timeoutMs: Number(process.env.DIST_TIMEOUT_MS ?? '20000'), backend, interface: process.env.GLOO_SOCKET_IFNAME || undefined });
  // Rank 0's initial weights win, as DDP's constructor does; here they are equal already by the seed.
  group.broadcast(params, 0);
  const gradientAsBucketView = process.env.GRAD_VIEW === undefined ? DATA_PARALLEL_REDUCER.gradientAsBucketView : process.env.GRAD_VIEW === '1';
  reducer = new GradientReducer(group, params, { bucketCapMb: 0.01, firstBucketCapMb: 0.002, gradientAsBucketView });
}
const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
for (let s = 0; s < steps; s++) {
  if (s === stallAfter) {
    console.log(JSON.stringify({ stalled: s }));
    await new Promise(() => setInterval(() => {}, 1000));
  }
  const loss = tidy(() => {
    let h = F.conv2d(x, w1, b1, { padding: 1 });
    if (bn) h = F.batchNorm(h, runningMean, runningVar, gamma, beta, { training: true, sync: bn === 'sync' });
    h = h.relu();
    h = F.conv2d(h, w2, b2, { padding: 1, stride: 2 }).relu();
    const logits = F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), fw, fb);
    const l = F.crossEntropy(logits, y);
    if (reducer) reducer.backward(l);
    else l.backward();
    return l.item();
  });
  opt.step();
  opt.zeroGrad();
  const hash = createHash('sha256');
  for (const p of params) hash.update(p.detach().toBytes());
  console.log(JSON.stringify({ step: s, loss, params: hash.digest('hex'), buckets: reducer?.buckets ?? 0, sample: params[4]!.detach().toArray().slice(0, 4), running: [...runningMean.toArray().slice(0, 3), ...runningVar.toArray().slice(0, 3)] }));
}
if (group) {
  const cpu = tensor([rank + 1, 0.5], [2], 'float64');
  const dev = on(tensor([rank + 1, 2], [2], 'float32'));
  group.allReduce([cpu], 'sum');
  group.allReduce([dev], 'max');
  group.barrier();
  console.log(JSON.stringify({ sums: { cpu: cpu.toArray(), device: dev.toArray(), deviceName: dev.device, backend: group.backend } }));
}
reducer?.free();
group?.destroy();
