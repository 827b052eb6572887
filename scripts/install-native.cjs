#!/usr/bin/env node
// Builds (or finds) ablate's native addon when the package is installed: the package's `install`
// script, and `npx ablate build-native` later. In a development checkout scripts/setup.sh does this.
//
//   ABLATE_NATIVE_PREBUILT=/path/ablate_native.node   use an addon already built against this machine's libtorch
//   ABLATE_SKIP_NATIVE_BUILD=1                         install without the addon (build it later: npx ablate build-native)
//   LIBTORCH=/path/to/libtorch                          which libtorch to build against (see native/find-libtorch.cjs)
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const nativeDir = path.join(root, 'native');
const addon = path.join(nativeDir, 'build', 'Release', 'ablate_native.node');
const stampFile = path.join(nativeDir, 'build', '.ablate-stamp');
const say = (msg) => process.stderr.write(`[ablate] ${msg}\n`);
const fromCli = process.argv.includes('--from-cli');

function loads(file) {
  // A child process, so a crash in a broken addon cannot take this script down with it.
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').find((l) => /Error/.test(l)) || 'it does not load';
}

function libtorch() {
  return spawnSync(process.execPath, [path.join(nativeDir, 'find-libtorch.cjs'), 'json'], { encoding: 'utf8' });
}

function remedies(reason) {
  return [
    `the native addon was not built: ${reason}`,
    'ablate runs every tensor op in libtorch and needs the addon. Remedies:',
    '  - install libtorch (see the message above), then run:  npx ablate build-native',
    '  - or point ABLATE_NATIVE_PREBUILT at an ablate_native.node built on this machine, and reinstall',
    '  - or install without the addon for now: ABLATE_SKIP_NATIVE_BUILD=1 npm install ...',
  ].join('\n');
}

function main() {
  // `npm ci` / `npm install` in ablate's own checkout: scripts/setup.sh builds the addon (with its own stamp).
  if (!fromCli && process.env.npm_config_local_prefix && path.resolve(process.env.npm_config_local_prefix) === path.resolve(root)) return 0;
  if (!fromCli && process.env.ABLATE_SKIP_NATIVE_BUILD === '1') {
    say('ABLATE_SKIP_NATIVE_BUILD=1: installed without the native addon; build it later with: npx ablate build-native');
    return 0;
  }
  const found = libtorch();
  const stamp = found.status === 0 ? found.stdout.trim() : null;

  const prebuilt = process.env.ABLATE_NATIVE_PREBUILT;
  if (prebuilt) {
    if (!fs.existsSync(prebuilt)) {
      say(`ABLATE_NATIVE_PREBUILT=${prebuilt} does not exist: expected the path of an ablate_native.node file`);
      return 1;
    }
    fs.mkdirSync(path.dirname(addon), { recursive: true });
    fs.copyFileSync(prebuilt, addon);
    const err = loads(addon);
    if (err) {
      fs.rmSync(addon, { force: true });
      say(`ABLATE_NATIVE_PREBUILT=${prebuilt} does not load here (${err}); unset it to build from source`);
      return 1;
    }
    // The JPEG decoder is the same build's second target: take it too when it sits beside the prebuilt addon
    // (without it, sharp decodes every image).
    const image = path.join(path.dirname(prebuilt), 'ablate_image.node');
    if (fs.existsSync(image)) fs.copyFileSync(image, path.join(path.dirname(addon), 'ablate_image.node'));
    if (stamp) fs.writeFileSync(stampFile, stamp);
    say(`native addon: using the prebuilt ${prebuilt}`);
    return 0;
  }

  if (fs.existsSync(addon) && stamp && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && !loads(addon)) {
    say('native addon: already built for this libtorch');
    return 0;
  }
  if (found.status !== 0) {
    process.stderr.write(found.stderr);
    say(remedies('no usable libtorch was found'));
    return 1;
  }

  const gyp = process.env.npm_config_node_gyp || (() => {
    try { return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }); } catch { return null; }
  })();
  if (!gyp) {
    say(remedies('node-gyp was not found (it is a dependency of ablate: reinstall the package)'));
    return 1;
  }
  const args = [gyp, 'rebuild', '-j', String(Math.max(1, require('os').cpus().length))];
  // Debian's nodejs ships its headers in /usr/include/node: build offline against them.
  if (!process.env.npm_config_nodedir && fs.existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
  const info = JSON.parse(stamp);
  say(`building the native addon against libtorch ${info.version} (${info.libDir}); this takes a few minutes`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    say(remedies(`node-gyp failed (exit ${r.status}); a C++17 compiler (g++ or clang) and make are needed, and the messages above say more`));
    return 1;
  }
  const err = loads(addon);
  if (err) {
    say(remedies(`the built addon does not load: ${err}`));
    return 1;
  }
  fs.writeFileSync(stampFile, stamp);
  say(`native addon built in ${Math.round((Date.now() - t0) / 1000)} s`);
  return 0;
}

process.exitCode = main();
