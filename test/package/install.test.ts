// The package as a user gets it: `npm pack`, installed into a fresh project, imported by a strict
// TypeScript program that builds, summarises, trains, predicts and exports; the ONNX files then run in
// onnxruntime-node with ablate's logits. Offline: dependencies come from npm's cache (filled by
// scripts/setup.sh's `npm ci`) at the versions of ablate's own lockfile. The install script builds the
// native addon from the tarball's own sources, as on a user's machine: a file the build needs but
// `files` leaves out fails here (it once did: native/compat-include/). That takes a minute or two;
// ABLATE_TEST_NATIVE_BUILD=0 hands over the addon already built here (ABLATE_NATIVE_PREBUILT) instead.
import { strict as assert } from 'node:assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { renderGenerated, generatedClassNames, DEFAULT_GENERATED } from '../../src/data/index.js';
import { writeConsumerProject } from './consumer-project.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADDON = join(ROOT, 'native', 'build', 'Release', 'ablate_native.node');
const buildFromSource = process.env.ABLATE_TEST_NATIVE_BUILD !== '0';

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutS = 300): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}
const must = (r: SpawnSyncReturns<string>, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (exit ${r.status}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
};

/** Generated images as PNG class folders: <dir>/train/<class>/*.png and <dir>/val/<class>/*.png. */
async function writeImageFolder(dir: string, perClass: { train: number; val: number }): Promise<void> {
  const opts = { ...DEFAULT_GENERATED, classes: 4, size: 32 };
  const names = generatedClassNames(4);
  for (const [split, n] of [['train', perClass.train], ['val', perClass.val]] as const) {
    for (const [label, name] of names.entries()) {
      mkdirSync(join(dir, split, name), { recursive: true });
      for (let i = 0; i < n; i++) {
        const px = renderGenerated(opts, split, label * 1000 + i, label);
        await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, split, name, `${i}.png`));
      }
    }
  }
}

describe('the packed tarball, installed into a fresh project', { timeout: (buildFromSource ? 1200 : 300) * 1000 }, () => {
  let work: string;
  let project: string;
  let tarball: string;
  const t0 = Date.now();
  const timings: string[] = [];
  const lap = (what: string, since: number) => timings.push(`${what} ${((Date.now() - since) / 1000).toFixed(1)} s`);

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'ablate-pack-'));
    project = join(work, 'consumer');
    mkdirSync(project);
  });
  after(() => {
    if (process.env.ABLATE_TEST_VERBOSE) console.log(`install test timings: ${timings.join(', ')}; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack ships dist/, the addon sources and the install script, not the tests', () => {
    const t = Date.now();
    // dist/ is compiled by scripts/setup.sh (test.sh runs it first); prepack would only compile it again.
    must(run('bash', ['scripts/setup.sh'], ROOT), 'scripts/setup.sh');
    const out = must(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT), 'npm pack');
    const info = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info[0]!.filename);
    const files = info[0]!.files.map((f) => f.path);
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'bin/ablate.js', 'native/binding.gyp', 'native/src/addon.cc', 'native/find-libtorch.cjs', 'native/compat-include/torch/csrc/distributed/autograd/context/context.h', 'scripts/install-native.cjs', 'studies/demo.yaml']) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    for (const f of files) assert.ok(!/^(test|bench|src)\/|\.map$|native\/build\//.test(f), `${f} should not be in the tarball`);
    lap('pack', t);
  });

  it('installs offline; the install script builds or takes the native addon', () => {
    const t = Date.now();
    writeConsumerProject(ROOT, tarball, project);
    const env: NodeJS.ProcessEnv = buildFromSource ? { ABLATE_NATIVE_PREBUILT: '' } : { ABLATE_NATIVE_PREBUILT: ADDON };
    const r = run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], project, env, buildFromSource ? 1100 : 240);
    if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) {
      assert.fail(`a dependency is not in npm's cache; run "npm ci" in ${ROOT} once (scripts/setup.sh does) so this test can install offline:\n${r.stderr.slice(-1500)}`);
    }
    const log = must(r, 'npm ci of the tarball') + r.stderr;
    assert.match(log, buildFromSource ? /\[ablate\] native addon built in \d+ s/ : /\[ablate\] native addon: using the prebuilt/);
    assert.ok(existsSync(join(project, 'node_modules', 'ablate', 'native', 'build', 'Release', 'ablate_native.node')));
    lap(buildFromSource ? 'install (addon built from source)' : 'install', t);
  });

  it('`npx ablate` works from the installing project', () => {
    const out = must(run('npx', ['--no-install', 'ablate', 'info'], project), 'npx ablate info');
    assert.match(out, /libtorch\s+\S+/);
    const help = must(run('npx', ['--no-install', 'ablate', 'predict', '--help'], project), 'npx ablate predict --help');
    assert.match(help, /--top-k <k>\s+classes shown per image/);
  });

  it('without the addon (an install whose script was skipped), ablate says to run `npx ablate build-native`, which then works', () => {
    const addon = join(project, 'node_modules', 'ablate', 'native', 'build', 'Release', 'ablate_native.node');
    rmSync(addon);
    const missing = run('npx', ['--no-install', 'ablate', 'info'], project);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /native addon is not built[\s\S]*Run "npx ablate build-native"[\s\S]*npm install-scripts approve ablate/);
    assert.doesNotMatch(missing.stderr, /scripts\/setup\.sh/, 'an installed package has no setup.sh to point at');
    const rebuilt = run('npx', ['--no-install', 'ablate', 'build-native'], project, { ABLATE_NATIVE_PREBUILT: ADDON });
    assert.equal(rebuilt.status, 0, rebuilt.stderr);
    assert.ok(existsSync(addon));
    must(run('npx', ['--no-install', 'ablate', 'info'], project), 'npx ablate info after build-native');
  });

  it('a strict TypeScript consumer type-checks against the installed types; misspelt config fields do not compile', () => {
    const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
    must(run(tsc, ['-p', 'tsconfig.json'], project), 'tsc of consumer.ts');
    const bad = run(tsc, ['--noEmit', '-p', 'tsconfig.bad.json'], project);
    assert.notEqual(bad.status, 0, 'bad-config.ts compiled, but its config fields are misspelt');
    const errors = bad.stdout.split('\n').filter((l) => /error TS/.test(l));
    assert.equal(errors.length, 3, `expected one error per misspelt field:\n${bad.stdout}`);
    assert.match(bad.stdout, /'epoch' does not exist/);
    assert.match(bad.stdout, /'imagesize' does not exist/);
    assert.match(bad.stdout, /'learningRate' does not exist/);
  });

  it('the consumer runs: summary, one epoch, predict, export; predict on a folder equals eval on it', async () => {
    let t = Date.now();
    const images = join(work, 'images');
    await writeImageFolder(images, { train: 6, val: 5 });
    const out = must(run('node', [join('out', 'consumer.js'), images, join(project, 'work')], project, { ABLATE_CACHE_DIR: join(work, 'cache') }), 'the consumer program');
    lap('consumer run', t);
    assert.match(out, /Total params: 21,128,132 /); // plain34 with a 4-class head
    assert.match(out, /consumer done/);
    const result = JSON.parse(readFileSync(join(project, 'work', 'result.json'), 'utf8')) as Record<string, any>;
    assert.equal(result.trainStatus, 'ok');
    assert.equal(result.predictCount, 20);
    assert.equal(result.version, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    assert.deepEqual(JSON.parse(result.runOnnxMetadata['ablate.classNames']), ['cross', 'disk', 'square', 'triangle']);
    assert.equal(JSON.parse(result.runOnnxMetadata['ablate.preprocessing']).imageSize.join('x'), '32x32');

    // eval through the installed CLI on the same folder (the run's validation split).
    t = Date.now();
    const evalOut = JSON.parse(must(run('npx', ['--no-install', 'ablate', 'eval', '--run', join(project, 'work', 'run'), '--json'], project, { ABLATE_CACHE_DIR: join(work, 'cache') }), 'ablate eval'));
    lap('eval', t);
    assert.equal(evalOut.n, 20);
    assert.equal(result.predictAccuracy.n, 20);
    assert.equal(result.predictAccuracy.accuracy, evalOut.accuracy, 'predict and eval disagree on the same images');
    assert.ok(readdirSync(join(project, 'work', 'run', 'analysis')).includes('misclassified.png'));
  });

  it('the exported ONNX models give ablate\'s eval-mode logits in onnxruntime-node (resnet18, resnet50, plain34, the trained run)', async () => {
    const all = JSON.parse(readFileSync(join(project, 'work', 'logits.json'), 'utf8')) as Record<string, { file: string; input: number[]; shape: number[]; logits: number[] }>;
    assert.deepEqual(Object.keys(all).sort(), ['plain34', 'resnet18', 'resnet50', 'run']);
    for (const [name, c] of Object.entries(all)) {
      const session = await ort.InferenceSession.create(c.file);
      const r = await session.run({ input: new ort.Tensor('float32', Float32Array.from(c.input), c.shape) });
      await session.release();
      const got = r.logits!.data as Float32Array;
      assert.equal(got.length, c.logits.length, name);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - c.logits[i]!) / Math.max(1, Math.abs(c.logits[i]!)));
      assert.ok(worst <= 1e-4, `${name}: max |Δlogit|/max(1,|logit|) = ${worst}`);
    }
  });
});
