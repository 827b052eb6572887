import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ablateVersion } from '../util/version.js';

import { UsageError } from './errors.js';
import { ConfigError } from '../util/errors.js';
export { UsageError };

/**
 * The families and the switches a study ablates, for `summary --help` (and the README's table). Written out rather than
 * read from the registry so --help never loads libtorch; test/package/cli-help.test.ts keeps it equal to the registry.
 */
export const FAMILY_HELP = `
Families (model: {family or preset, switches…}; \`ablate summary --list\` adds presets and every field):
  resnet       depth, block, shortcut, preact, widthMultiplier, groups, widthPerGroup (ResNeXt), stride, dropPathRate,
               zeroInitLastBn, dropout (also plain*, preact-*, wide-*, resnext* presets)
  vgg          depth (11/13/16/19), batchNorm, head, hiddenUnits, dropout, widthMultiplier
  mobilenet    layout, expandRatio, widthMultiplier, invertedResidual, linearBottleneck, dropout
  densenet     layout, depth, growthRate, compression, bottleneck, bnSize, dropRate, initFeatures
  convnext     depths, widths, stemPatch, kernelSize, norm (layernorm|batchnorm), layerScale, dropPathRate
  vit          patchSize, depth, heads, width, mlpDim, pool (cls|gap), posEmbed (learned|sincos|none), dropPathRate,
               dropout, attentionDropout
  torchscript  torchscript (a file from torch.jit.script/trace, or a list of files as an axis), reinit
Every family also takes numClasses, inChannels and inputSize; torchvision's names are preset names (vit_b_16).`;

export function buildProgram(): Command {
  const program = new Command('ablate')
    .description('Ablation studies of deep image classifiers (ResNet vs PlainNet, augmentation) on libtorch')
    .version(ablateVersion())
    .option('--verbose', 'print stack traces on errors')
    .showHelpAfterError()
    .exitOverride();

  program.command('demo')
    .description('run the bundled demo study (residual vs plain, generated data, a few minutes on 2 cores) and write its report')
    .option('--out <dir>', 'output folder', 'runs/demo')
    .option('--threads <n>', 'CPU threads (default: all cores)')
    .action(async (o) => (await import('./commands/demo.js')).demoCommand(o));

  const study = program.command('study').description('plan, run, report and inspect ablation studies')
    .addHelpText('after', `
A study file varies any config path; model switches are paths under model:
  name: shortcuts
  base:
    model: resnet20-cifar                 # a preset, or {preset: resnet20-cifar, shortcut: none, ...}
    data: { source: cifar10, split: 'train[:45000]', valSplit: 'train[45000:]' }
    epochs: 30
  axes:
    model.shortcut: [projection, zero-pad, none]
    optimizer.lr: [0.1, 0.01]
  seeds: 3
  baseline: { model.shortcut: projection }

  ablate study plan shortcuts.yaml --data ~/data/cifar-10-batches-bin   # runs, changes, cost, time estimate
  ablate study run shortcuts.yaml --data ~/data/cifar-10-batches-bin

Fair comparisons: a tune: block gives every arm (variant) the same search and budget, then trains
each arm's main runs at its own best values (trials run first, in <study folder>/tune/):
  tune:
    space: { optimizer.lr: { logUniform: [0.001, 0.3] } }   # lists, {range: [a, b], step}, {logUniform: [a, b]}
    method: random        # grid (every point), random (trials: N, seeded), asha (synchronous successive halving)
    trials: 8
    budget: { epochs: 5 } # epochs per trial (asha: of the last rung), or { images: N } per trial
    metric: val_loss      # or val_accuracy
    valSplit: 0.1         # trials validate on the last 10% of the training split, never on val/test
  See studies/resnet-vs-plain-tuned.yaml.`);
  study.command('run <file>')
    .description('run every variant of a study file (YAML/JSON); re-running resumes')
    .option('--data <path>', 'dataset path (overrides base.data.path), or hf:OWNER/NAME[@REVISION] (sets data.source, name, revision)')
    .option('--out <dir>', 'output folder (default: runs/<study name>)')
    .option('--parallel <n>', 'variants trained at once (cores are split between them)', '1')
    .option('--set <key=value...>', 'override a base config field, e.g. --set epochs=3 --set optimizer.lr=0.1')
    .option('--threads <n>', 'CPU threads in total (default: all cores); each run gets this ÷ the number of runs, fixed when the study first starts')
    .option('--device <device>', 'cpu, cuda or cuda:N')
    .option('--only <names...>', 'run only these variants')
    .option('--retry-failed', 'run failed and diverged variants again')
    .option('--worker', 'cooperate with other --worker processes (any machines sharing the study folder): claim unclaimed runs, heartbeat, take over runs whose worker stopped; the last to finish writes the report')
    .option('--shard <i/n>', 'only runs k with k mod n = i (default from SLURM_ARRAY_TASK_ID/COUNT, or JOB_COMPLETION_INDEX with ABLATE_SHARDS, when --worker is not given)')
    .option('--mirror <url>', 'fetch datasets and weights by file name from this base URL (default: $ABLATE_MIRROR)')
    .option('--dashboard', 'also serve the live dashboard (see `study serve`); it stays up after the study until Ctrl-C')
    .option('--port <n>', 'dashboard port (with --dashboard; default: a free port)')
    .option('--host <address>', 'dashboard address (with --dashboard; default 127.0.0.1, 0.0.0.0 exposes it to the network)')
    .option('--allow-host <names...>', 'with --dashboard: other names it may be reached under (Host header; comma-separated, * for any)')
    .option('--max-runs <n>', 'the most runs the study may have (default: maxRuns: in the study file, else 1000); a larger study is refused before anything is expanded')
    .option('--requeue', 'under Slurm: after a preemption (SIGUSR1/SIGTERM, see ABLATE_PREEMPT_SIGNALS) and its checkpoints, scontrol requeue this job (also ABLATE_REQUEUE=1)')
    .action(async (file, o) => (await import('./commands/study.js')).studyRunCommand(file, o));
  study.command('plan <file>')
    .description('print the expanded runs, what each changes relative to its reference, and the cost (params, FLOPs, images × epochs, estimated time from a few measured steps) without training; exits 1 on any invalid field')
    .option('--data <path>', 'dataset path (overrides base.data.path), or hf:OWNER/NAME[@REVISION]')
    .option('--set <key=value...>', 'override a base config field')
    .option('--parallel <n>', 'variants that would train at once (for the time estimate)', '1')
    .option('--threads <n>', 'CPU threads in total (default: all cores)')
    .option('--device <device>', 'cpu, cuda or cuda:N')
    .option('--no-measure', 'skip the speed measurement (sizes and counts only)')
    .option('--json', 'print the plan as JSON: every run\'s resolved config (its config.json to be) and cost')
    .option('--noise-from <dir>', 'an earlier study folder whose seed-to-seed spread sizes the power section (default: noise: in the study file)')
    .option('--pilot', 'first train two seeds of the cheapest variant for a few epochs (in <study folder>-pilot) and size the power section from their spread')
    .option('--pilot-epochs <n>', 'epochs of each pilot run (with --pilot)', '2')
    .option('--out <dir>', 'the study folder this plans (default: runs/<study name>); --pilot trains in <dir>-pilot')
    .option('--max-runs <n>', 'the most runs the study may have (default: maxRuns: in the study file, else 1000)')
    .action(async (file, o) => (await import('./commands/study.js')).studyPlanCommand(file, o));
  study.command('serve <dir>')
    .description('a live web page over a study folder: curves, run progress, ablation table, verdicts (read-only, token-protected)')
    .option('--port <n>', 'port (default: a free port)')
    .option('--host <address>', 'address to listen on (default 127.0.0.1; 0.0.0.0 exposes the study to the network)')
    .option('--allow-host <names...>', 'other names it may be reached under (Host header; default: loopback and the --host address, for 0.0.0.0 this machine\'s addresses and name; comma-separated, * for any)')
    .action(async (dir, o) => (await import('./commands/serve.js')).studyServeCommand(dir, o));
  study.command('report <dir>')
    .description('write report.md, report.html and plots for a study folder')
    .action(async (dir) => (await import('./commands/study.js')).studyReportCommand(dir));
  study.command('diff <a> <b>')
    .description('compare the verdicts of two study folders: per comparison kept, changed or flipped, and the change in Δ with its interval; exits 3 when a verdict flips')
    .option('--json', 'print the comparison as JSON')
    .action(async (a, b, o) => (await import('./commands/study.js')).studyDiffCommand(a, b, o));
  study.command('status <dir>')
    .description('progress of every variant of a study')
    .option('--watch', 'refresh every 2 s until all variants finished')
    .action(async (dir, o) => (await import('./commands/study.js')).studyStatusCommand(dir, o));

  program.command('train [config]')
    .description('train one model from a config file (YAML/JSON) and/or flags; a run\'s config.json repeats that run exactly')
    .option('--model <preset>', "model preset or inline spec, e.g. resnet34, plain34, '{preset: resnet34, shortcut: none}', '{torchscript: net.pt}'")
    .option('--data <path>', 'dataset path, a WebDataset shard pattern (train-{000000..000099}.tar), or hf:OWNER/NAME[@REVISION]')
    .option('--source <name>', 'dataset source (image-folder, cats_vs_dogs, tfds, stanford_dogs, cifar10, cifar100, generated, hf, webdataset)')
    .option('--epochs <n>', 'passes over the training data (default 10)')
    .option('--batch-size <n>', 'images per optimizer step (default 32)')
    .option('--lr <x>', 'learning rate (default 0.01)')
    .option('--augment <spec>', 'augmentation preset: none, standard, cutmix, mixup, standard+cutmix')
    .option('--precision <p>', 'auto, fp32 or bf16')
    .option('--device <device>', 'cpu, cuda or cuda:N')
    .option('--threads <n>', 'CPU threads (default: all cores, or ABLATE_THREADS)')
    .option('--seed <n>', 'seed for weight initialisation, data order and augmentation (default 0)')
    .option('--set <key=value...>', 'override any config field, e.g. --set model.shortcut=none')
    .option('--out <dir>', 'run folder', 'runs/train')
    .option('--resume', 'continue the run in --out from its last checkpoint (without a config: with the run\'s own config.json)')
    .option('--requeue', 'under Slurm: after a preemption (SIGUSR1/SIGTERM, see ABLATE_PREEMPT_SIGNALS) and its checkpoint, scontrol requeue this job (also ABLATE_REQUEUE=1)')
    .option('--nproc-per-node <n>', 'data-parallel: start N ranks on this machine (Gloo on CPU, one GPU each on CUDA); --batch-size and --threads are per rank. Same as distributed.nprocPerNode in the config, and recorded in the run\'s config.json, so --resume starts as many again. Under torchrun, srun or a Kubernetes job, leave it out: RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT are read from the environment')
    .option('--nnodes <n>', 'data-parallel over several machines (torchrun\'s flag): run the same command on each, with its --node-rank and node 0\'s --master-addr; each starts --nproc-per-node ranks')
    .option('--node-rank <r>', 'this machine\'s place among --nnodes, 0 … nnodes-1 (node 0 holds the rendezvous)')
    .option('--master-addr <host>', 'node 0\'s host name or address, reachable from every node (set GLOO_SOCKET_IFNAME to the interface to use)')
    .option('--master-port <port>', 'rendezvous port on node 0 (default 29500 with --nnodes, else a free one)')
    .option('--mirror <url>', 'fetch datasets and weights by file name from this base URL (default: $ABLATE_MIRROR)')
    .addHelpText('after', `
Data and weights (config fields, or --set key=value):
  data.source         cats_vs_dogs, stanford_dogs, cifar10, cifar100 without data.path are fetched into
                      $ABLATE_DATA_DIR (default ~/.cache/ablate/datasets) and verified; see \`ablate data list\`
  data.path           a folder, .zip, TFDS dir, Stanford Dogs root or CIFAR dir; --data also takes a dataset name
  data.source: hf     a Hugging Face Hub dataset: data.name (ethz/food101), data.revision, data.config;
                      --data hf:ethz/food101[@revision]; cached under HF_HOME, shared with Python
  data.valSplit       validation split of the same source, e.g. split: "train[:80%]", valSplit: "train[80%:]";
                      without it a folder's valid/, val/, test/ or test_set/ split is used (the run says which)
  valData.path        validation data from another place (valData takes any data.* field: path, source, split)
  pretrained          a .pth file, "imagenet" (torchvision's best weights for the model's depth), IMAGENET1K_V1 or
                      IMAGENET1K_V2; fetched into $TORCH_HOME/hub/checkpoints, shared with PyTorch; sets ImageNet
                      mean/std normalisation`)
    .action(async (config, o) => (await import('./commands/train.js')).trainCommand(config, o));

  program.command('eval')
    .description('evaluate a checkpoint on a dataset split: accuracy, per-class precision/recall/F1, confusion matrix, most confident mistakes')
    .option('--run <dir>', 'a run folder: its model, data, image size and normalisation, on its validation split')
    .option('--checkpoint <path>', 'a .pth state dict (ablate or PyTorch/torchvision); with --run also model, best or last (default model, else last)')
    .option('--model <preset>', 'model preset the checkpoint belongs to (without --run)')
    .option('--data <path>', 'dataset path, "generated" or hf:OWNER/NAME (without --run)')
    .option('--source <name>', 'dataset source')
    .option('--split <split>', 'split, e.g. test or train[80%:] (default: the run\'s validation split, else test)')
    .option('--image-size <n>', 'input size (default: the run\'s, or the source\'s native size; required otherwise)')
    .option('--batch-size <n>', 'batch size (default: the run\'s, else 32)')
    .option('--normalize <kind>', 'imagenet or unit (divide by 255 only) (default: the run\'s; required for a checkpoint outside a run folder)')
    .option('--precision <p>', 'auto, fp32 or bf16 (default: the run\'s, else auto)')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: the run\'s, else cpu)')
    .option('--json', 'print JSON')
    .option('--out <dir>', 'folder for confusion-matrix.png, misclassified.png and classification.json (default: <run>/eval with --run)')
    .action(async (o) => (await import('./commands/eval.js')).evalCommand(o));

  program.command('predict <inputs...>')
    .description('classify images (files and/or folders, searched recursively) with a trained run: top-k classes and probabilities')
    .option('--run <dir>', 'the run folder: its model, class names, image size and normalisation')
    .option('--checkpoint <which>', 'model, best, last or a .pth path (default model, else last)')
    .option('--top-k <k>', 'classes shown per image', '5')
    .option('--batch-size <n>', 'images per forward pass (default: the run\'s batch size)')
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV (one row per image)')
    .option('--precision <p>', 'auto, fp32 or bf16 (default: the run\'s)')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: the run\'s)')
    .action(async (inputs, o) => (await import('./commands/predict.js')).predictCommand(inputs, o));

  program.command('export')
    .description('write a trained run\'s model as ONNX (opset 13, dynamic batch; class names and preprocessing in its metadata)')
    .option('--run <dir>', 'the run folder')
    .option('--format <format>', 'output format (onnx)', 'onnx')
    .option('--out <file>', 'output file', 'model.onnx')
    .option('--checkpoint <which>', 'model, best, last or a .pth path (default model, else last)')
    .action(async (o) => (await import('./commands/export.js')).exportCommand(o));

  program.command('summary [model]')
    .description('print a Keras-style summary of a model: a preset, or a spec such as \'{preset: resnet56-cifar, preact: true}\'')
    .option('--input <size>', 'input height/width (default: the model\'s, 224 or 32 for CIFAR nets)')
    .option('--classes <n>', 'number of classes (default: the model\'s, 1000 or 10 for CIFAR nets)')
    .option('--shortcut <kind>', 'override the shortcut: projection, zero-pad, all-projection, none')
    .option('--set <key=value...>', 'set a model switch, e.g. --set preact=true --set widthMultiplier=2 --set dropPathRate=0.1')
    .option('--list', 'list the model families, their switches and presets')
    .addHelpText('after', '\nExamples:\n  ablate summary resnet56-cifar --set preact=true\n  ablate summary \'{preset: resnet50, widthMultiplier: 2}\' --classes 2\n' +
      '  ablate summary vgg16_bn                  (torchvision\'s names work as presets)\n  ablate summary mobilenet-v2-cifar --set invertedResidual=false\n' +
      '  ablate summary --list                     (every family, its switches and presets)\n' + FAMILY_HELP)
    .action(async (model, o) => (await import('./commands/summary.js')).summaryCommand(model, o));

  program.command('augment-preview')
    .description('write a PNG grid of original vs augmented samples with their mixed labels')
    .option('--run <dir>', 'a run folder: its training data, image size and augmentation (config.json)')
    .option('--data <path>', 'dataset path (or "generated", or hf:OWNER/NAME)')
    .option('--source <name>', 'dataset source')
    .option('--split <split>', 'split (default: train, or the run\'s training split)')
    .option('--augment <spec>', 'preset name or a YAML/JSON list (default: standard+cutmix, or the run\'s)')
    .option('--image-size <n>', 'image size (default: the source\'s native size, else 224)')
    .option('--count <n>', 'number of samples', '8')
    .option('--seed <n>', 'seed', '0')
    .option('--out <file>', 'output PNG', 'augment-preview.png')
    .action(async (o) => (await import('./commands/augment-preview.js')).augmentPreviewCommand(o));

  const data = program.command('data').description('fetch known datasets (cats_vs_dogs, stanford_dogs, cifar10, cifar100) and Hugging Face Hub datasets (hf:OWNER/NAME) into their caches');
  data.command('get <names...>')
    .description('download and verify datasets into the data cache ($ABLATE_DATA_DIR or ~/.cache/ablate/datasets), or hf:OWNER/NAME[@REVISION] into the Hub cache (HF_HOME); prints their paths')
    .option('--mirror <url>', 'fetch every file by its original name from this base URL instead (default: $ABLATE_MIRROR; for hf: set HF_ENDPOINT)')
    .option('--split <split>', 'hf: fetch only these splits (e.g. train+validation); default all')
    .option('--config <name>', 'hf: the dataset config (subset); default the card\'s default')
    .action(async (names, o) => (await import('./commands/data.js')).dataGetCommand(names, o));
  data.command('shard <data>')
    .description('write an image folder, a known dataset, hf:OWNER/NAME or "generated" as WebDataset tar shards (<split>-000000.tar + classes.txt); prints the shard pattern')
    .requiredOption('--out <dir>', 'folder for the shards')
    .option('--source <name>', 'dataset source of a path, when not detected')
    .option('--split <split...>', 'splits to write, one shard prefix each (default train), e.g. --split train validation')
    .option('--samples-per-shard <n>', 'samples per shard (default 10000)')
    .action(async (input, o) => (await import('./commands/data.js')).dataShardCommand(input, o));
  data.command('list')
    .description('known datasets, what of them is cached, and their sizes')
    .option('--json', 'print JSON')
    .action(async (o) => (await import('./commands/data.js')).dataListCommand(o));

  program.command('info')
    .description('libtorch version, CUDA/cuDNN versions, GPUs, threads and bf16 support')
    .option('--json', 'print the same as JSON')
    .action(async (o) => (await import('./commands/info.js')).infoCommand(o));

  program.command('build-native')
    .description('build the native addon against libtorch (what installing the package does; run it after installing libtorch)')
    .action(async () => (await import('./commands/build-native.js')).buildNativeCommand());

  return program;
}

/** Entry point: returns the process exit code; every error is printed once, as one clear line. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    // Commands report partial failure (a failed study variant, Ctrl-C) through process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    const verbose = argv.includes('--verbose');
    const err = e as Error;
    process.stderr.write(`ablate: error: ${err.message}\n`);
    if (verbose && err.stack) process.stderr.write(err.stack + '\n');
    else if (!(e instanceof UsageError) && !(e instanceof ConfigError) && !(e instanceof TypeError) && !(e instanceof RangeError) && err.name !== 'DownloadError' && err.name !== 'DataPreflightError') {
      process.stderr.write('(run again with --verbose for the stack trace)\n');
    }
    return 1;
  }
}

// Run directly (`node --import tsx src/cli/main.ts …` or `node dist/src/cli/main.js …`), not only via bin/ablate.js.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
