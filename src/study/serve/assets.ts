/**
 * What the dashboard page is made of: its own files (serve/page/, plain browser JavaScript, nothing
 * to build) and the Vega libraries from node_modules, so the page works offline, without a CDN.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** serve/page/ lives in src/; the compiled server (dist/src/study/serve/) finds it from the package root. */
function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'page'), join(here, '../../../../src/study/serve/page')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`the dashboard page is missing (looked in ${candidates.join(' and ')}); reinstall ablate`);
  return found;
}

/** A package's folder, found the way node would find the package (its exports map hides build/ files). */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  for (const nm of require.resolve.paths(name) ?? []) {
    if (existsSync(join(nm, name, 'package.json'))) return join(nm, name);
  }
  throw new Error(`the npm package ${name} is missing; run \`npm ci\` (or bash scripts/setup.sh)`);
}

export interface Asset {
  file: string;
  type: string;
}

const JS = 'text/javascript; charset=utf-8';

/** URL path → file. Anything else under /page/ or /vendor/ is a 404. */
export function assetTable(): Map<string, Asset> {
  const page = pageDir();
  return new Map<string, Asset>([
    ['/', { file: join(page, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/page/dashboard.js', { file: join(page, 'dashboard.js'), type: JS }],
    ['/page/dashboard.css', { file: join(page, 'dashboard.css'), type: 'text/css; charset=utf-8' }],
    ['/vendor/vega.min.js', { file: join(packageDir('vega'), 'build/vega.min.js'), type: JS }],
    ['/vendor/vega-lite.min.js', { file: join(packageDir('vega-lite'), 'build/vega-lite.min.js'), type: JS }],
    ['/vendor/vega-embed.min.js', { file: join(packageDir('vega-embed'), 'build/vega-embed.min.js'), type: JS }],
  ]);
}
