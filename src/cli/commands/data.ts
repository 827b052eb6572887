import { isExtracted } from '../../data/catalogue.js';
import { cachedState, datasetDir, datasetPath, ensureDataset, findDataset, formatBytes, knownDatasets, totalSize, dataCacheDir, resolveMirror } from '../../data/index.js';
import { interruptExitCode, interruptSignal } from '../../util/interrupt.js';
import { UsageError } from '../errors.js';

export interface DataGetFlags {
  mirror?: string;
}

/** `ablate data get <name...>`: fetch and verify known datasets into the data cache. */
export async function dataGetCommand(names: string[], f: DataGetFlags): Promise<void> {
  const unknown = names.filter((n) => !findDataset(n));
  if (unknown.length) {
    throw new UsageError(`Unknown dataset${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; ablate can fetch: ${knownDatasets().map((e) => e.name).join(', ')} (see \`ablate data list\`)`);
  }
  const mirror = resolveMirror(f.mirror);
  const { signal, dispose } = interruptSignal(() => process.stderr.write('\nstopping the download; the part already fetched is kept and the next run resumes it\n'));
  try {
    for (const name of names) {
      const r = await ensureDataset(name, { mirror, signal });
      process.stderr.write(`${name}: ${r.fetched.length ? `fetched ${r.fetched.join(', ')}` : 'already in the cache, verified'}\n`);
      // The path on stdout, so `--data "$(ablate data get cifar10)"` works.
      process.stdout.write(r.path + '\n');
    }
  } catch (e) {
    if (signal.aborted) process.exitCode = interruptExitCode(signal);
    throw e;
  } finally {
    dispose();
  }
}

/** `ablate data list`: known datasets, what of them is cached, and sizes. */
export function dataListCommand(f: { json?: boolean }): void {
  const rows = knownDatasets().map((entry) => {
    const files = cachedState(entry);
    const ready = (entry.open === 'extract' && isExtracted(datasetDir(entry), entry)) || files.every((s) => s.state === 'verified' || s.state === 'unverified');
    return { name: entry.name, title: entry.title, size: totalSize(entry), ready, path: datasetPath(entry), dir: datasetDir(entry), files };
  });
  if (f.json) {
    process.stdout.write(JSON.stringify({ cacheDir: dataCacheDir(), datasets: rows }, null, 2) + '\n');
    return;
  }
  const lines = [`data cache: ${dataCacheDir()} (set ABLATE_DATA_DIR to move it)`, ''];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(14)} ${(r.size === undefined ? '?' : formatBytes(r.size)).padStart(9)}  ${r.ready ? 'cached' : 'not fetched'}  ${r.title}`);
    for (const s of r.files) {
      const what = s.state === 'missing' ? 'missing'
        : s.state === 'partial' ? `partial: ${formatBytes(s.present)}${s.size ? ` of ${formatBytes(s.size)}` : ''} (resumes on the next fetch)`
          : s.state === 'verified' ? 'verified' : 'present, checked on first use';
      lines.push(`    ${s.name.padEnd(28)} ${(s.size === undefined ? '?' : formatBytes(s.size)).padStart(9)}  ${what}`);
    }
  }
  lines.push('', 'fetch one with `ablate data get <name>`, or name it in a run without a path: `ablate train --source cifar10 --model resnet20-cifar`');
  process.stdout.write(lines.join('\n') + '\n');
}
