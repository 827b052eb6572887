import { isExtracted } from '../../data/catalogue.js';
import { cachedState, datasetDir, datasetPath, ensureDataset, findDataset, formatBytes, knownDatasets, totalSize, dataCacheDir, resolveMirror, parseHfArg, openHf, listHubCache, hfHubCache, parseSplit } from '../../data/index.js';
import { interruptSignal } from '../../util/interrupt.js';
import { UsageError } from '../errors.js';

export interface DataGetFlags {
  mirror?: string;
  /** hf: only these splits (split syntax; the names are what counts). */
  split?: string;
  /** hf: the dataset's config (subset). */
  config?: string;
}

/** `ablate data get hf:OWNER/NAME[@REV]`: the card and the Parquet shards into the Hub cache; prints the snapshot folder. */
async function getHf(arg: string, f: DataGetFlags, signal: AbortSignal): Promise<void> {
  const hf = parseHfArg(arg)!;
  const splits = f.split === undefined ? undefined : [...new Set(parseSplit(f.split).map((p) => p.name))];
  const src = await openHf({ id: hf.name, revision: hf.revision, config: f.config, splits, signal });
  try {
    const rev = src.hf.revision;
    const counts = (splits ?? src.splitNames).map((s) => `${s} ${src.split(s).length}`).join(', ');
    process.stderr.write(`${hf.name}@${rev.revision} = commit ${rev.commit} (config ${src.hf.config}): ${counts} images, in ${hfHubCache()}\n`);
    process.stdout.write(`${hfHubCache()}/datasets--${hf.name.split('/').join('--')}/snapshots/${rev.commit}\n`);
  } finally {
    await src.close();
  }
}

/** `ablate data get <name...>`: fetch and verify known datasets into the data cache. */
export async function dataGetCommand(names: string[], f: DataGetFlags): Promise<void> {
  const unknown = names.filter((n) => !findDataset(n) && !parseHfArg(n));
  if (unknown.length) {
    throw new UsageError(`Unknown dataset${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; ablate can fetch: ${knownDatasets().map((e) => e.name).join(', ')}, or any Hub dataset as hf:OWNER/NAME (see \`ablate data list\`)`);
  }
  const mirror = resolveMirror(f.mirror);
  const { signal, dispose } = interruptSignal(() => process.stderr.write('\nstopping the download; the part already fetched is kept and the next run resumes it\n'));
  try {
    for (const name of names) {
      if (parseHfArg(name)) {
        await getHf(name, f, signal);
        continue;
      }
      const r = await ensureDataset(name, { mirror, signal });
      process.stderr.write(`${name}: ${r.fetched.length ? `fetched ${r.fetched.join(', ')}` : 'already in the cache, verified'}\n`);
      // The path on stdout, so `--data "$(ablate data get cifar10)"` works.
      process.stdout.write(r.path + '\n');
    }
  } catch (e) {
    if (signal.aborted) process.exitCode = 130;
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
  const hub = listHubCache();
  if (f.json) {
    process.stdout.write(JSON.stringify({ cacheDir: dataCacheDir(), datasets: rows, hubCache: hfHubCache(), hub }, null, 2) + '\n');
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
  lines.push('', `Hugging Face Hub cache: ${hfHubCache()} (HF_HOME; shared with Python's datasets and huggingface_hub)`);
  if (hub.length === 0) lines.push('    no datasets yet: `ablate data get hf:OWNER/NAME`, or `--data hf:OWNER/NAME` in a run');
  for (const d of hub) {
    const refs = Object.entries(d.refs).map(([r, c]) => `${r}=${c.slice(0, 12)}`).join(' ');
    lines.push(`hf:${d.id.padEnd(30)} ${formatBytes(d.bytes).padStart(9)}  ${d.snapshots.length} snapshot${d.snapshots.length === 1 ? '' : 's'}${refs ? `  ${refs}` : ''}`);
  }
  lines.push('', 'fetch one with `ablate data get <name>`, or name it in a run without a path: `ablate train --source cifar10 --model resnet20-cifar`');
  process.stdout.write(lines.join('\n') + '\n');
}
