// A fresh npm project that depends on the ablate tarball, with a lockfile derived from ablate's own, so
// `npm ci --offline` installs exactly the dependency versions ablate is tested with, from npm's cache.
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type LockEntry = Record<string, unknown> & { version?: string; dev?: boolean };

const CONSUMER_FILES = fileURLToPath(new URL('./consumer/', import.meta.url));
/** Dev-only packages of ablate's lockfile the consumer needs too: Node's types, for its own type check. */
const CONSUMER_DEV = ['node_modules/@types/node', 'node_modules/undici-types'];

export function writeConsumerProject(ablateRoot: string, tarball: string, dir: string): void {
  const lock = JSON.parse(readFileSync(join(ablateRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(ablateRoot, 'package.json'), 'utf8')) as Record<string, unknown> & { version: string };
  const spec = `file:${tarball}`;
  const integrity = 'sha512-' + createHash('sha512').update(readFileSync(tarball)).digest('base64');
  const typesNode = lock.packages['node_modules/@types/node']!.version!;
  const manifest = {
    name: 'ablate-consumer',
    private: true,
    type: 'module',
    dependencies: { ablate: spec },
    devDependencies: { '@types/node': typesNode },
    // npm 11 asks for install scripts of dependencies to be approved (`npm install-scripts approve ablate`).
    allowScripts: { [spec]: true },
  };
  const packages: Record<string, LockEntry> = {
    '': { name: manifest.name, dependencies: manifest.dependencies, devDependencies: manifest.devDependencies },
    'node_modules/ablate': { version: pkg.version, resolved: spec, integrity, hasInstallScript: true, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '') continue;
    if (entry.dev && !CONSUMER_DEV.includes(path)) continue; // ablate's own dev tools
    packages[path] = entry;
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: manifest.name, lockfileVersion: 3, requires: true, packages }, null, 2));
  for (const f of ['consumer.ts', 'bad-config.ts', 'tsconfig.json']) copyFileSync(join(CONSUMER_FILES, f), join(dir, f));
  const tsconfig = JSON.parse(readFileSync(join(CONSUMER_FILES, 'tsconfig.json'), 'utf8')) as { files: string[] };
  writeFileSync(join(dir, 'tsconfig.bad.json'), JSON.stringify({ ...tsconfig, files: ['bad-config.ts'] }, null, 2));
}
