/**
 * Opens every distinct dataset of a study once, before any variant starts: a bad path or split fails
 * the study in one message instead of once per variant, and a dataset named without a path is
 * fetched here, in one process, rather than by every worker at once.
 */
import { openDataset, type DataSpec, type OpenOptions } from '../data/index.js';
import { resolveRunPlan } from '../run/plan.js';
import type { PlainObject } from './spec-paths.js';

export class DataPreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataPreflightError';
  }
}

/** What identifies the data a spec reads (decode settings such as imageSize do not change it). */
function identity(spec: DataSpec): string {
  const { source, path, split, generated, jfifOnly, labelKind, name, revision, config, imageColumn, labelColumn } = spec;
  return JSON.stringify({ source, path, split, generated, jfifOnly, labelKind, name, revision, config, imageColumn, labelColumn });
}

function describeSpec(spec: DataSpec): string {
  return `${spec.source === 'hf' ? `hf:${spec.name}${spec.revision ? `@${spec.revision}` : ''}` : spec.path ?? spec.source ?? 'data'}, split '${spec.split}'`;
}

export async function preflightData(runs: readonly { name: string; config: PlainObject }[], o: OpenOptions = {}): Promise<number> {
  const distinct = new Map<string, { spec: DataSpec; runs: string[]; where: string; configs: PlainObject[] }>();
  for (const run of runs) {
    const plan = resolveRunPlan(run.config);
    for (const [where, split, field] of [['training data', plan.data, 'data'], ['validation data', plan.valData, 'valData']] as const) {
      if (!split) continue;
      const spec = split as DataSpec;
      const key = identity(spec);
      const d = distinct.get(key) ?? { spec, runs: [], where, configs: [] };
      d.runs.push(run.name);
      if (typeof run.config[field] === 'object' && run.config[field] !== null) d.configs.push(run.config[field] as PlainObject);
      distinct.set(key, d);
    }
  }
  const failures: { d: { spec: DataSpec; runs: string[]; where: string; configs: PlainObject[] }; error: Error }[] = [];
  for (const d of distinct.values()) {
    try {
      const ds = await openDataset(d.spec, o);
      await ds.close();
      // A Hub branch is pinned here, once for the study: its runs all read the commit checked now.
      if (d.spec.source === 'hf' && ds.revision !== undefined) for (const c of d.configs) if (c.source === 'hf') c.revision = ds.revision;
    } catch (e) {
      if (o.signal?.aborted) throw e;
      failures.push({ d, error: e as Error });
    }
  }
  if (failures.length === 1 && failures[0]!.error.name === 'DownloadError') throw failures[0]!.error; // already says what to do
  if (failures.length) {
    const lines = failures.map(({ d, error }) => {
      const who = d.runs.length === runs.length ? 'every run' : d.runs.length <= 3 ? d.runs.join(', ') : `${d.runs.slice(0, 3).join(', ')} and ${d.runs.length - 3} more`;
      return `  - ${d.where} of ${who} (${describeSpec(d.spec)}): ${error.message.split('\n').join('\n    ')}`;
    });
    throw new DataPreflightError(`the study's data could not be opened (each dataset was checked once, before any variant started):\n${lines.join('\n')}`);
  }
  return distinct.size;
}
