import { F, type Tensor } from '../../tensor/index.js';
import { invalidArg } from '../../util/errors.js';
import { Layer, expectRank, knownChannels, type LayerArgs } from '../layer.js';
import { formatShape, type Shape } from '../shape.js';

export interface ZeroPadShortcutArgs extends LayerArgs {
  /** Output channels; the extra ones (filters − input channels) are zeros. */
  filters: number;
  /** Spatial subsampling: keeps every `strides`-th row and column, starting at the first. */
  strides?: number;
}

/**
 * The parameter-free shortcut of He et al. (2016) §3.3 option A: an identity that subsamples by
 * taking every stride-th pixel and appends zero channels, so it matches a block that halves the
 * resolution and widens the channels without adding any weights.
 */
export class ZeroPadShortcut extends Layer {
  readonly className = 'ZeroPadShortcut';
  readonly filters: number;
  readonly strides: number;
  #pads: number[] = [];

  constructor(args: ZeroPadShortcutArgs) {
    super(args, 'zero_pad_shortcut');
    if (!Number.isInteger(args.filters) || args.filters < 1) throw invalidArg(`zeroPadShortcut "${this.name}" filters`, 'a positive integer', args.filters);
    const s = args.strides ?? 1;
    if (!Number.isInteger(s) || s < 1) throw invalidArg(`zeroPadShortcut "${this.name}" strides`, 'a positive integer', args.strides);
    this.filters = args.filters;
    this.strides = s;
  }

  protected override build([s]: readonly Shape[]): void {
    // F.pad lists pads from the last dimension backwards: (W left, W right, H top, H bottom, C front, C back).
    this.#pads = [0, 0, 0, 0, 0, this.filters - knownChannels(s!, this)];
  }

  computeOutputShape([s]: readonly Shape[]): Shape {
    expectRank(s!, 4, this, '(N, C, H, W)');
    const c = knownChannels(s!, this);
    if (c > this.filters) throw new RangeError(`ZeroPadShortcut layer "${this.name}" can only add channels (to ${this.filters}) but received ${formatShape(s!)}`);
    const sub = (d: number | null): number | null => (d === null ? null : Math.ceil(d / this.strides));
    return [s![0]!, this.filters, sub(s![2]!), sub(s![3]!)];
  }

  call(inputs: readonly Tensor[]): Tensor {
    const x = inputs[0]!;
    if (this.strides === 1) return F.pad(x, this.#pads);
    const rows = x.slice(2, null, null, this.strides);
    const sub = rows.slice(3, null, null, this.strides);
    rows.dispose();
    const out = F.pad(sub, this.#pads);
    sub.dispose();
    return out;
  }
}

/** Option-A shortcut (see {@link ZeroPadShortcutArgs}). */
export function zeroPadShortcut(args: ZeroPadShortcutArgs): ZeroPadShortcut {
  return new ZeroPadShortcut(args);
}
