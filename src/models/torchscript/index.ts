/**
 * Your own PyTorch model: `model: { torchscript: net.pt }` trains a module saved with torch.jit.script or
 * torch.jit.trace. The file is checked before libtorch reads it; its state-dict keys are the module's own.
 */
import { createHash } from 'node:crypto';
import { ScriptModule } from '../../tensor/index.js';
import { registerFamily, type ModelFamily } from '../family.js';
import {
  TorchScriptConfigSchema, describeTorchScriptConfig, resolveTorchScriptConfig, torchScriptName, validateTorchScriptConfig,
  type ResolvedTorchScriptConfig, type TorchScriptConfigInput,
} from './config.js';
import { readTorchScriptFile, TORCHSCRIPT_FILE_EXPECTED } from './file.js';
import { TorchScriptModel } from './model.js';

/** Loads a checked config's module (the file is re-checked on the open descriptor) as a Model. */
export function loadTorchScriptModel(config: ResolvedTorchScriptConfig, o: { name?: string; generator?: import('../../tensor/index.js').Generator; initialize?: boolean } = {}): TorchScriptModel {
  const bytes = readTorchScriptFile(config.torchscript);
  let module: ScriptModule;
  try {
    module = ScriptModule.fromBytes(bytes);
  } catch (e) {
    const reason = (e as Error).message.replace(/^jit_load: /, '');
    if (/^(forward\(\) must take|the module has no forward)/.test(reason)) throw new TypeError(`model.torchscript: ${config.torchscript}: ${reason}`);
    const hint = /constants\.pkl|data\.pkl/.test(reason) && !/code\//.test(reason)
      ? ' (a state dict or a model saved with torch.save is not a TorchScript module: save torch.jit.script(net) instead)'
      : '';
    throw new TypeError(`model.torchscript: ${config.torchscript} is not a TorchScript module libtorch can load: ${reason}${hint}; expected ${TORCHSCRIPT_FILE_EXPECTED}`);
  }
  const fixed = module.modules().filter((m) => MODE_DEPENDENT.test(m.type) && !m.readsTraining);
  if (fixed.length > 0) {
    module.dispose();
    const list = fixed.slice(0, 4).map((m) => `${m.path} (${m.type})`).join(', ') + (fixed.length > 4 ? ` and ${fixed.length - 4} more` : '');
    throw new TypeError(`model.torchscript: ${config.torchscript} is a traced module whose ${list} cannot follow train()/eval(): ` +
      'tracing recorded the mode they ran in, so training and validation would both run that one mode; expected a module saved with ' +
      'torch.jit.script(net).save(path), which keeps the switch (a traced module without BatchNorm or dropout is fine)');
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return new TorchScriptModel(module, config, { name: o.name ?? torchScriptName(config), generator: o.generator, initialize: o.initialize, sha256 });
}

/** Module classes that behave differently in training and evaluation: a traced copy of one is stuck in one mode. */
const MODE_DEPENDENT = /^(BatchNorm[123]d|SyncBatchNorm|InstanceNorm[123]d|Dropout[123]?d?|AlphaDropout|FeatureAlphaDropout)$/;

export const torchscriptFamily: ModelFamily<TorchScriptConfigInput, ResolvedTorchScriptConfig> = {
  name: 'torchscript',
  description: 'your own PyTorch model, saved with torch.jit.script(net).save(path) or torch.jit.trace; its own state-dict keys',
  schema: TorchScriptConfigSchema,
  presets: new Map(),
  specKey: 'torchscript',
  validate: validateTorchScriptConfig,
  resolve: resolveTorchScriptConfig,
  build: (config, options) => loadTorchScriptModel(config, options),
  defaultName: torchScriptName,
  describe: describeTorchScriptConfig,
};

registerFamily(torchscriptFamily);

export * from './config.js';
export { TorchScriptModel, TorchScriptLayer } from './model.js';
export { torchScriptFileProblem, readTorchScriptFile, maxTorchScriptBytes } from './file.js';
