import { F, keep, ones, zeros, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { fill_ } from '../init.js';
import { Layer, knownChannels, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

export interface BatchNormArgs extends LayerArgs {
  /** torch semantics: running = (1 - momentum) * running + momentum * batch (Keras' momentum is 1 - this). */
  momentum?: number;
  epsilon?: number;
  /** Initial scale; `zeros` makes a residual block start as the identity (Goyal et al. 2017, torchvision's zero_init_residual). */
  gammaInitializer?: 'ones' | 'zeros';
}

// A 0-d int64 one shared by every batch-norm layer: the engine's add_ cannot add a JS number to an
// int64 tensor, and a 0-d CPU tensor adds to tensors on any device, like a scalar.
let one: Tensor | undefined;
function int64One(): Tensor {
  one ??= keep(ones([], { dtype: 'int64' }));
  return one;
}

/**
 * Batch normalisation over the channel dimension (dim 1) of NC or NCHW input, as torch.nn.BatchNorm2d:
 * batch statistics and running-stat updates in training mode, running statistics in eval mode.
 * State dict: weight, bias, running_mean, running_var, num_batches_tracked.
 */
export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  override readonly outputNotSavedForBackward = true;
  readonly momentum: number;
  readonly epsilon: number;
  readonly gammaInitializer: 'ones' | 'zeros';
  /**
   * SyncBatchNorm in training: statistics over every data-parallel rank's batch, not this process's alone
   * (set by the data-parallel trainer, as torch's convert_sync_batchnorm; the weights are the same either way).
   */
  sync = false;

  constructor(args: BatchNormArgs = {}) {
    super(args, 'batch_normalization');
    this.momentum = args.momentum ?? 0.1;
    this.epsilon = args.epsilon ?? 1e-5;
    if (!(this.momentum > 0 && this.momentum <= 1)) throw invalidArg(`batchNorm "${this.name}" momentum`, 'a number in (0, 1]', args.momentum);
    this.gammaInitializer = args.gammaInitializer ?? 'ones';
    if (this.gammaInitializer !== 'ones' && this.gammaInitializer !== 'zeros') throw invalidArg(`batchNorm "${this.name}" gammaInitializer`, '"ones" or "zeros"', args.gammaInitializer);
    if (!(this.epsilon > 0)) throw invalidArg(`batchNorm "${this.name}" epsilon`, 'a positive number', args.epsilon);
  }

  protected override build([s]: readonly Shape[]): void {
    const c = knownChannels(s!, this);
    this.params.set('weight', ones([c]));
    this.params.set('bias', zeros([c]));
    this.buffers.set('running_mean', zeros([c]));
    this.buffers.set('running_var', ones([c]));
    this.buffers.set('num_batches_tracked', zeros([], { dtype: 'int64' }));
    int64One();
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    const c = knownChannels(s!, this);
    const expected = this.params.get('weight')?.shape[0] ?? c;
    if (c !== expected) throw new RangeError(`BatchNormalization layer "${this.name}" has ${expected} channels but received shape ${formatShape(s!)}`);
    return s!;
  }

  call(inputs: readonly Tensor[], training: boolean): Tensor {
    const y = F.batchNorm(inputs[0]!, this.buffer('running_mean'), this.buffer('running_var'), this.param('weight'), this.param('bias'), {
      training,
      momentum: this.momentum,
      eps: this.epsilon,
      sync: this.sync,
    });
    if (training) this.buffer('num_batches_tracked').add_(int64One());
    return y;
  }

  override resetParameters(): void {
    fill_(this.param('weight'), this.gammaInitializer === 'ones' ? 1 : 0);
    fill_(this.param('bias'), 0);
    fill_(this.buffer('running_mean'), 0);
    fill_(this.buffer('running_var'), 1);
    fill_(this.buffer('num_batches_tracked'), 0);
  }

  override countsAsParam(bufferName: string): boolean {
    return bufferName !== 'num_batches_tracked';
  }

  override cost(_in: readonly Shape[], out: Shape): LayerCost {
    // Inference form: one multiply and one add per element once the statistics are folded.
    return { macs: 0, flops: 2 * (sampleSize(out) ?? 0) };
  }
}

/** Batch normalisation (torch.nn.BatchNorm2d semantics; see {@link BatchNormArgs}). */
export function batchNorm(args: BatchNormArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
