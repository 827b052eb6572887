// Every command and every option of the CLI says what it does in --help.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap((s) => allCommands(s as Command))];
}

describe('CLI help', () => {
  it('every command has a description and every option a description', () => {
    const missing: string[] = [];
    for (const c of allCommands(buildProgram())) {
      const name = c.name();
      if (!c.description()) missing.push(`command ${name}`);
      for (const o of c.options) if (!o.description) missing.push(`${name} ${o.flags}`);
    }
    assert.deepEqual(missing, []);
  });

  it('train documents --epochs, --batch-size, --lr, --threads and --seed with their defaults', () => {
    const train = buildProgram().commands.find((c) => c.name() === 'train')!;
    const help = train.helpInformation();
    assert.match(help, /--epochs <n>\s+passes over the training data \(default 10\)/);
    assert.match(help, /--batch-size <n>\s+images per optimizer step \(default 32\)/);
    assert.match(help, /--lr <x>\s+learning rate \(default 0\.01\)/);
    assert.match(help, /--threads <n>\s+CPU threads/);
    assert.match(help, /--seed <n>\s+seed for weight initialisation/);
  });
});

describe('summary --help lists the families and their switches', () => {
  it('names every registered family and every switch it has (generic norm settings aside)', async () => {
    const { listFamilies } = await import('../../src/models/index.js');
    const { FAMILY_HELP } = await import('../../src/cli/main.js');
    const summary = buildProgram().commands.find((c) => c.name() === 'summary')!;
    let help = '';
    summary.configureOutput({ writeOut: (s) => { help += s; } });
    summary.outputHelp();
    assert.ok(help.includes(FAMILY_HELP.trim()));
    // Numerical settings of the norms are fields, not ablation switches: --list shows them.
    const generic = new Set(['bnMomentum', 'bnEps', 'normEps']);
    const lines = FAMILY_HELP.split('\n');
    for (const f of listFamilies()) {
      const start = lines.findIndex((l) => l.startsWith(`  ${f.name} `));
      assert.ok(start >= 0, `summary --help does not list the ${f.name} family`);
      const entry = [lines[start]!, ...lines.slice(start + 1).filter((_l, i, a) => a.slice(0, i + 1).every((x) => /^ {10,}/.test(x)))].join(' ');
      const words = new Set(entry.split(/[\s,()|]+/));
      for (const sw of f.switches) {
        if (generic.has(sw) || ['numClasses', 'inChannels', 'inputSize'].includes(sw)) continue;
        assert.ok(words.has(sw), `summary --help lists ${f.name} without its switch ${sw}`);
      }
    }
  });
});

describe('PresetName', () => {
  it('names exactly the presets of the bundled families', async () => {
    const { listPresets } = await import('../../src/models/index.js');
    // Compile-time list mirrored at run time: every registry preset must be assignable to PresetName.
    const names: import('../../src/train/api.js').PresetName[] = [
      'resnet18', 'plain34', 'preact-resnet50', 'resnet56-cifar', 'plain110-cifar', 'preact-resnet20-cifar', 'wide-resnet50-2', 'wrn28-10-cifar',
      'resnext50-32x4d', 'vgg16-bn', 'vgg11-bn-cifar', 'mobilenet-v2-w0.5', 'densenet121', 'convnext-tiny', 'vit-b-16', 'vit-tiny-cifar',
    ];
    for (const n of names) assert.ok(listPresets().includes(n), `${n} is not a preset`);
    const expected = ['resnet', 'plain', 'preact-resnet'].flatMap((p) => [18, 34, 50, 101, 152].map((d) => `${p}${d}`).concat([20, 32, 44, 56, 110].map((d) => `${p}${d}-cifar`)))
      .concat(['wide-resnet50-2', 'wide-resnet101-2', 'wrn28-10-cifar'])
      .concat(['resnext50-32x4d', 'resnext101-32x8d', 'resnext101-64x4d', 'resnext29-8x16d-cifar', 'resnet29-bottleneck-cifar'])
      .concat([11, 13, 16, 19].flatMap((d) => ['', '-bn'].flatMap((bn) => ['', '-cifar'].map((c) => `vgg${d}${bn}${c}`))), ['vgg11-small-cifar', 'vgg11-bn-small-cifar'])
      .concat(['mobilenet-v2', 'mobilenet-v2-w0.5', 'mobilenet-v2-w0.75', 'mobilenet-v2-w1.4', 'mobilenet-v2-cifar', 'mobilenet-v2-small-cifar'])
      .concat([121, 161, 169, 201].map((d) => `densenet${d}`), ['densenet-bc100-k12-cifar', 'densenet40-k12-cifar', 'densenet-bc40-k12-cifar'])
      .concat(['tiny', 'small', 'base', 'large'].map((s) => `convnext-${s}`), ['convnext-nano-cifar'])
      .concat(['b-16', 'b-32', 'l-16', 'l-32', 'h-14'].map((s) => `vit-${s}`), ['vit-tiny-cifar']);
    assert.deepEqual([...listPresets()].sort(), expected.sort(), 'PresetName (src/train/api.ts) is out of date with the preset registry');
  });
});
