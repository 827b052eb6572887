import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isExtracted } from '../../data/catalogue.js';
import { cachedState, datasetDir, datasetPath, ensureDataset, findDataset, formatBytes, knownDatasets, totalSize, dataCacheDir, resolveMirror, parseHfArg, openHf, listHubCache, hfHubCache, parseSplit } from '../../data/index.js';
import { interruptExitCode, interruptSignal } from '../../util/interrupt.js';
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

export interface DataShardFlags {
  out: string;
  source?: string;
  split?: string[];
  samplesPerShard?: string;
}

/**
 * `ablate data shard <data> --out DIR`: an image folder, a known dataset, a Hub dataset (hf:NAME) or
 * `generated` written as WebDataset shards, one prefix per split (`train-000000.tar`, `validation-000000.tar`).
 */
export async function dataShardCommand(input: string, f: DataShardFlags): Promise<void> {
  const { openDataset, writeWebDataset, dataArgFields, isDownloadable, parseSplit: split } = await import('../../data/index.js');
  const base = isDownloadable(input) && !existsSync(input) ? { source: input } : { ...dataArgFields(input, resolve), ...(f.source ? { source: f.source } : {}) };
  const per = f.samplesPerShard === undefined ? undefined : Number(f.samplesPerShard);
  if (per !== undefined && (!Number.isInteger(per) || per < 1)) throw new UsageError(`--samples-per-shard: expected a positive integer, received ${JSON.stringify(f.samplesPerShard)}`);
  const splits = f.split?.length ? f.split : ['train'];
  const prefixes = splits.map((s) => split(s)[0]!.name);
  if (new Set(prefixes).size !== prefixes.length) throw new UsageError(`--split: expected splits with different names (each becomes a shard prefix), received ${splits.join(', ')}`);
  const { signal, dispose } = interruptSignal(() => process.stderr.write('\nstopping; complete shards are kept\n'));
  try {
    for (let k = 0; k < splits.length; k++) {
      const ds = await openDataset({ ...base, split: splits[k]! } as never, { signal });
      try {
        let last = 0;
        const shards = await writeWebDataset(ds, resolve(f.out), {
          prefix: prefixes[k]!, samplesPerShard: per, signal,
          onProgress: (done, total) => {
            if (Date.now() - last > 2000 || done === total) {
              last = Date.now();
              process.stderr.write(`${prefixes[k]}: ${done}/${total} samples\n`);
            }
          },
        });
        process.stderr.write(`${ds.description}: ${ds.length} samples in ${shards.length} shard${shards.length === 1 ? '' : 's'}\n`);
        if (shards.length) process.stdout.write(`${resolve(f.out)}/${prefixes[k]}-{000000..${String(shards.length - 1).padStart(6, '0')}}.tar\n`);
      } finally {
        await ds.close();
      }
    }
  } finally {
    dispose();
  }
}
