import { F, cat, type Tensor } from '../../tensor/index.js';
import { Layer, type LayerArgs, type LayerCost } from '../layer.js';
import { formatShape, sampleSize, type Shape } from '../shape.js';

/** A layer joining two or more inputs. */
abstract class Merge extends Layer {
  protected override checkArity(n: number): void {
    if (n < 2) throw new RangeError(`${this.className} layer "${this.name}" needs at least 2 inputs but received ${n}`);
  }
}

/** Element-wise sum of two or more inputs of identical shape (no broadcasting: a mismatch is a bug). */
export class Add extends Merge {
  readonly className = 'Add';
  override readonly outputNotSavedForBackward = true;
  constructor(args: LayerArgs = {}) {
    super(args, 'add');
  }
  computeOutputShape(shapes: readonly Shape[]): Shape {
    const first = shapes[0]!;
    for (const s of shapes.slice(1)) {
      const same = s.length === first.length && s.every((d, i) => d === first[i] || d === null || first[i] === null);
      if (!same) throw new RangeError(`Add layer "${this.name}" needs inputs of the same shape but received ${shapes.map(formatShape).join(' and ')}`);
    }
    return first.map((d, i) => d ?? shapes.find((s) => s[i] !== null)?.[i] ?? null);
  }
  call(inputs: readonly Tensor[]): Tensor {
    let acc = inputs[0]!.add(inputs[1]!);
    for (let i = 2; i < inputs.length; i++) {
      const next = acc.add(inputs[i]!);
      acc.dispose();
      acc = next;
    }
    return acc;
  }
  override callInPlace(inputs: readonly Tensor[], target: number): void {
    const acc = inputs[target]!;
    inputs.forEach((x, i) => {
      if (i !== target) F.addInPlace_(acc, x);
    });
  }
  override cost(shapes: readonly Shape[], out: Shape): LayerCost {
    return { macs: 0, flops: (sampleSize(out) ?? 0) * (shapes.length - 1) };
  }
}

/** Element-wise sum layer: `add().apply([a, b])`. */
export function add(args: LayerArgs = {}): Add {
  return new Add(args);
}

/** Joins inputs along the channel axis (torch.cat(dim=1)): DenseNet's feature concatenation. */
export class Concatenate extends Merge {
  readonly className = 'Concatenate';
  constructor(args: LayerArgs = {}) {
    super(args, 'concatenate');
  }
  computeOutputShape(shapes: readonly Shape[]): Shape {
    const first = shapes[0]!;
    const fits = (s: Shape) => s.length === first.length && s.length >= 2 && s.every((d, i) => i === 1 || d === first[i] || d === null || first[i] === null);
    if (!shapes.every(fits)) {
      throw new RangeError(`Concatenate layer "${this.name}" needs inputs that differ only in channels (dim 1) but received ${shapes.map(formatShape).join(' and ')}`);
    }
    const channels = shapes.some((s) => s[1] === null) ? null : shapes.reduce((a, s) => a + s[1]!, 0);
    return first.map((d, i) => (i === 1 ? channels : d ?? shapes.find((s) => s[i] !== null)?.[i] ?? null));
  }
  call(inputs: readonly Tensor[]): Tensor {
    return cat([...inputs], 1);
  }
  override cost(): LayerCost {
    return { macs: 0, flops: 0 };
  }
}

/** Channel concatenation layer: `concatenate().apply([a, b])`. */
export function concatenate(args: LayerArgs = {}): Concatenate {
  return new Concatenate(args);
}
