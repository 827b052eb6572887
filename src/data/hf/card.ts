/**
 * What a Hub dataset says about itself: the README's YAML header (`dataset_info.features`, `configs`)
 * or the `huggingface` key of a Parquet file's metadata, reduced to what ablate needs.
 */
import { parse as parseYaml } from 'yaml';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A column's kind as the `datasets` library declares it. */
export interface Feature {
  name: string;
  kind: 'image' | 'class_label' | 'other';
  /** ClassLabel names, in label order. */
  names?: string[];
}

export interface CardConfig {
  name: string;
  isDefault: boolean;
  /** split → glob patterns relative to the repo root. */
  dataFiles: Map<string, string[]>;
}

export interface DatasetCard {
  /** config name → features (dataset_info is one mapping, or a list with config_name). */
  features: Map<string, Feature[]>;
  configs: CardConfig[];
}

/** ClassLabel names: a list, or the card's `{'0': name, '1': name}` mapping. */
function classNames(v: unknown): string[] | undefined {
  if (Array.isArray(v)) return v.map(String);
  if (isObj(v)) {
    const keys = Object.keys(v).map(Number);
    if (keys.some((k) => !Number.isInteger(k) || k < 0)) return undefined;
    const out: string[] = [];
    for (const k of keys.sort((a, b) => a - b)) out[k] = String(v[String(k)]);
    return Array.from(out, (s, i) => s ?? String(i));
  }
  return undefined;
}

/** The card's `features:` list (`- name: label; dtype: {class_label: {names: …}}`). */
function cardFeatures(list: unknown): Feature[] {
  if (!Array.isArray(list)) return [];
  return list.filter(isObj).map((f) => {
    const name = String(f.name ?? '');
    const dtype = f.dtype;
    if (dtype === 'image') return { name, kind: 'image' as const };
    if (isObj(dtype) && isObj(dtype.class_label)) return { name, kind: 'class_label' as const, names: classNames(dtype.class_label.names) };
    return { name, kind: 'other' as const };
  });
}

/** The Parquet metadata form: `{info: {features: {image: {_type: 'Image'}, label: {_type: 'ClassLabel', names}}}}`. */
export function parquetFeatures(kv: readonly { key: string; value?: string }[] | undefined): Feature[] {
  const hf = kv?.find((e) => e.key === 'huggingface')?.value;
  if (!hf) return [];
  let json: unknown;
  try {
    json = JSON.parse(hf);
  } catch {
    return [];
  }
  const feats = isObj(json) && isObj(json.info) && isObj(json.info.features) ? json.info.features : undefined;
  if (!feats) return [];
  return Object.entries(feats).filter((e): e is [string, Json] => isObj(e[1])).map(([name, f]) => {
    if (f._type === 'Image') return { name, kind: 'image' as const };
    if (f._type === 'ClassLabel') return { name, kind: 'class_label' as const, names: classNames(f.names) };
    return { name, kind: 'other' as const };
  });
}

function dataFiles(v: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (split: string, p: unknown) => {
    const list = Array.isArray(p) ? p.map(String) : typeof p === 'string' ? [p] : [];
    out.set(split, [...(out.get(split) ?? []), ...list]);
  };
  if (typeof v === 'string') add('train', v);
  else if (Array.isArray(v)) {
    for (const e of v) {
      if (typeof e === 'string') add('train', e);
      else if (isObj(e) && typeof e.split === 'string') add(e.split, e.path);
    }
  } else if (isObj(v)) for (const [k, p] of Object.entries(v)) add(k, p);
  return out;
}

/** Parse a README.md's YAML header; a card without one (or with broken YAML) says nothing. */
export function parseCard(readme: string): DatasetCard {
  const card: DatasetCard = { features: new Map(), configs: [] };
  const m = /^---\r?\n([\s\S]*?)\r?\n---\s*(?:\r?\n|$)/.exec(readme);
  if (!m) return card;
  let y: unknown;
  try {
    y = parseYaml(m[1]!, { maxAliasCount: 100 });
  } catch {
    return card;
  }
  if (!isObj(y)) return card;
  const infos = Array.isArray(y.dataset_info) ? y.dataset_info : isObj(y.dataset_info) ? [y.dataset_info] : [];
  for (const info of infos) {
    if (!isObj(info)) continue;
    card.features.set(typeof info.config_name === 'string' ? info.config_name : 'default', cardFeatures(info.features));
  }
  if (Array.isArray(y.configs)) {
    for (const c of y.configs) {
      if (!isObj(c) || typeof c.config_name !== 'string') continue;
      card.configs.push({ name: c.config_name, isDefault: c.default === true, dataFiles: dataFiles(c.data_files) });
    }
  }
  return card;
}

/** A data_files glob (`data/train-*`, `**\/*.parquet`) as a RegExp over repo paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
