/**
 * The pre-flight check of one resolved run config: the training layer's run plan, which checks it
 * against every layer that will read it (training config, data spec, augmentation, model), plus the
 * files it names. A study runs for hours; a typo in `data.generated.clases` or `model: resnet8-cifar`
 * must surface before the first variant starts, not when the fifth one does.
 */
import { inspectRunConfig } from '../run/plan.js';
import type { ConfigProblem } from './spec-expand.js';
import type { PlainObject } from './spec-paths.js';

export interface CheckRunOptions {
  /** Also check that `data.path` and `pretrained` exist on this machine (default true). */
  checkFiles?: boolean;
}

/** Every problem any layer would find in this run config; [] when it is ready to train. */
export function checkRunConfig(config: PlainObject, o: CheckRunOptions = {}): ConfigProblem[] {
  return inspectRunConfig(config, { checkFiles: o.checkFiles !== false }).problems;
}
