/**
 * A model family of your own, written only against ablate's public API (`ablate/nn`, `ablate/models`):
 * a small VGG-style network whose switches (`widths`, `batchNorm`, `dropout`) become study axes.
 * Importing this module registers the family; then `model: { family: tiny-vgg, batchNorm: false }` or
 * `model: tiny-vgg-wide` works in run configs, studies and `ablate summary`, like the bundled families.
 */
import { z } from 'zod';
import {
  batchNorm, conv2d, dense, dropout, flatten, globalAveragePool, input, maxPool, model, relu, type Model, type SymbolicTensor,
} from 'ablate/nn';
import { ModelConfigError, registerFamily, type FamilyBuildOptions, type ModelFamily } from 'ablate/models';

/** The switches. Strict: a typo (`batchnorm`) is an error that suggests the right key. */
export const TinyVggSchema = z.strictObject({
  /** Output channels of each stage (two 3×3 convs, then a 2×2 max-pool); one stage per entry. */
  widths: z.array(z.number().int().min(1).max(1024)).min(1).max(6).optional(),
  /** A BatchNorm after every conv (default true): the classic ablation of Ioffe & Szegedy 2015. */
  batchNorm: z.boolean().optional(),
  /** Dropout before the classifier, in [0, 1) (default 0). */
  dropout: z.number().min(0).lt(1).optional(),
  numClasses: z.number().int().min(1).optional(),
  inChannels: z.number().int().min(1).optional(),
  /** Square input side for summaries (default 32). */
  inputSize: z.number().int().min(8).optional(),
});
export type TinyVggInput = z.input<typeof TinyVggSchema>;
export interface TinyVggConfig {
  widths: number[];
  batchNorm: boolean;
  dropout: number;
  numClasses: number;
  inChannels: number;
  inputSize: number;
}

function validate(config: unknown): { path: string; message: string }[] {
  const r = TinyVggSchema.safeParse(config);
  if (r.success) return [];
  return r.error.issues.map((i) => ({ path: i.path.join('.'), message: `expected ${i.message}, received ${JSON.stringify(i.input ?? (config as Record<string, unknown>)?.[String(i.path[0])])}` }));
}

function resolve(config: unknown): TinyVggConfig {
  const issues = validate(config);
  if (issues.length > 0) throw new ModelConfigError(issues);
  const c = TinyVggSchema.parse(config);
  return {
    widths: c.widths ?? [16, 32],
    batchNorm: c.batchNorm ?? true,
    dropout: c.dropout ?? 0,
    numClasses: c.numClasses ?? 10,
    inChannels: c.inChannels ?? 3,
    inputSize: c.inputSize ?? 32,
  };
}

/** Layer names follow torchvision's VGG (`features.N`, `classifier`), so state dicts read naturally in PyTorch. */
function build(c: TinyVggConfig, o: FamilyBuildOptions): Model {
  const x = input({ shape: [c.inChannels, null, null], name: 'input' });
  let y: SymbolicTensor = x;
  let k = 0;
  for (const width of c.widths) {
    for (let i = 0; i < 2; i++) {
      y = conv2d({ name: `features.${k++}`, filters: width, kernelSize: 3, padding: 1, useBias: !c.batchNorm }).apply(y);
      if (c.batchNorm) y = batchNorm({ name: `features.${k++}` }).apply(y);
      y = relu({ name: `features.${k++}` }).apply(y);
    }
    y = maxPool({ name: `features.${k++}`, poolSize: 2 }).apply(y);
  }
  y = flatten({ name: 'flatten' }).apply(globalAveragePool({ name: 'avgpool' }).apply(y));
  if (c.dropout > 0) y = dropout({ name: 'dropout', rate: c.dropout }).apply(y);
  y = dense({ name: 'classifier', units: c.numClasses }).apply(y);
  return model({ inputs: x, outputs: y, name: o.name ?? defaultName(c), generator: o.generator, initialize: o.initialize, defaultInputSize: c.inputSize });
}

function defaultName(c: TinyVggConfig): string {
  return `tiny-vgg-${c.widths.join('-')}${c.batchNorm ? '' : '-nobn'}`;
}

export const tinyVggFamily: ModelFamily<TinyVggInput, TinyVggConfig> = {
  name: 'tiny-vgg',
  description: 'a small VGG-style net (example of a family written outside ablate)',
  schema: TinyVggSchema,
  presets: new Map<string, TinyVggInput>([
    ['tiny-vgg', {}],
    ['tiny-vgg-wide', { widths: [32, 64] }],
  ]),
  validate,
  resolve,
  build,
  defaultName,
  describe: (c) => [`stages ${c.widths.join(' → ')}, batchNorm ${c.batchNorm}, dropout ${c.dropout}`],
};

registerFamily(tinyVggFamily);
