import type { Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { Layer, Node, type LayerArgs, type SymbolicTensor } from '../layer.js';
import type { Shape } from '../shape.js';

export interface InputArgs extends LayerArgs {
  /** Shape of one sample, without the batch dimension, e.g. [3, 224, 224] or [3, null, null] for any size. */
  shape: readonly (number | null)[];
}

/** The graph's entry point; it has no computation of its own. */
export class InputLayer extends Layer {
  readonly className = 'InputLayer';
  readonly batchShape: Shape;
  constructor(args: InputArgs) {
    super(args, 'input');
    if (!Array.isArray(args.shape) || args.shape.length === 0 || !args.shape.every((d) => d === null || (Number.isInteger(d) && d > 0))) {
      throw invalidArg('input shape', 'a non-empty array of positive integers or null (e.g. [3, 224, 224])', args.shape);
    }
    this.batchShape = [null, ...args.shape];
    this.built = true;
    const node = new Node(this, [], this.batchShape);
    this.nodes.push(node);
  }
  computeOutputShape(): Shape {
    return this.batchShape;
  }
  call(): Tensor {
    throw new Error(`InputLayer "${this.name}" is fed by the model and cannot be called`);
  }
  override apply(): SymbolicTensor {
    throw new Error(`InputLayer "${this.name}" cannot be applied to other tensors; use its output: input({shape})`);
  }
}

/** Declares a model input: `const x = input({ shape: [3, 224, 224] })` (batch dimension implicit). */
export function input(args: InputArgs): SymbolicTensor {
  return new InputLayer(args).nodes[0]!.output;
}
