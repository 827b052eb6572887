// The install script's unhappy paths, run on a copy of the package layout (nothing here builds the addon).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ADDON = join(ROOT, 'native', 'build', 'Release', 'ablate_native.node');

describe('scripts/install-native.cjs', () => {
  let pkg: string;
  const built = () => join(pkg, 'native', 'build', 'Release', 'ablate_native.node');
  const install = (env: Record<string, string>) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|ABLATE_|LIBTORCH$)/.test(k)));
    return spawnSync(process.execPath, [join(pkg, 'scripts', 'install-native.cjs')], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
  };

  before(() => {
    pkg = mkdtempSync(join(tmpdir(), 'ablate-install-'));
    mkdirSync(join(pkg, 'scripts'));
    mkdirSync(join(pkg, 'native'));
    copyFileSync(join(ROOT, 'scripts', 'install-native.cjs'), join(pkg, 'scripts', 'install-native.cjs'));
    copyFileSync(join(ROOT, 'native', 'find-libtorch.cjs'), join(pkg, 'native', 'find-libtorch.cjs'));
  });
  after(() => rmSync(pkg, { recursive: true, force: true }));

  it('no libtorch: fails with the discovery message and the remedies, naming `npx ablate build-native`', () => {
    const r = install({ LIBTORCH: join(pkg, 'no-such-libtorch') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /LIBTORCH=.*no-such-libtorch is set but is not a libtorch directory/);
    assert.match(r.stderr, /the native addon was not built: no usable libtorch was found/);
    assert.match(r.stderr, /npx ablate build-native/);
    assert.match(r.stderr, /ABLATE_SKIP_NATIVE_BUILD=1/);
    assert.ok(!existsSync(built()));
  });

  it('ABLATE_SKIP_NATIVE_BUILD=1 installs without the addon and says how to build it later', () => {
    const r = install({ ABLATE_SKIP_NATIVE_BUILD: '1', LIBTORCH: join(pkg, 'no-such-libtorch') });
    assert.equal(r.status, 0);
    assert.match(r.stderr, /installed without the native addon; build it later with: npx ablate build-native/);
  });

  it('inside ablate\'s own checkout (`npm ci` there) it leaves the build to scripts/setup.sh', () => {
    const r = install({ npm_config_local_prefix: pkg, LIBTORCH: join(pkg, 'no-such-libtorch') });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
  });

  it('ABLATE_NATIVE_PREBUILT: a missing file or one that does not load is refused; a real addon is used', () => {
    let r = install({ ABLATE_NATIVE_PREBUILT: join(pkg, 'missing.node') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /ABLATE_NATIVE_PREBUILT=.*missing\.node does not exist/);

    const junk = join(pkg, 'junk.node');
    writeFileSync(junk, 'not a shared object');
    r = install({ ABLATE_NATIVE_PREBUILT: junk });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /does not load here .*unset it to build from source/);
    assert.ok(!existsSync(built()), 'a prebuilt addon that does not load is not left in place');

    r = install({ ABLATE_NATIVE_PREBUILT: ADDON });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /native addon: using the prebuilt/);
    assert.ok(existsSync(built()));
  });
});
