import { parse as parseYaml } from 'yaml';
import { invalidArg } from '../util/errors.js';
import { isDottedPath } from './spec-paths.js';
import { yamlTooDeep } from '../util/config-file.js';

/** One `--set key=value` from the command line. */
export interface ConfigOverride {
  path: string;
  value: unknown;
}

/**
 * Parse `--set` arguments such as `optimizer.lr=0.1`, `augment=[flip, {cutmix: {alpha: 1}}]`,
 * `pretrained=null`. The value is read as YAML so numbers, booleans, null and lists arrive typed;
 * quote it (`model='123'`) to force a string.
 */
export function parseSetOverrides(args: readonly string[]): ConfigOverride[] {
  return args.map((arg, i) => {
    const name = `--set #${i + 1}`;
    if (typeof arg !== 'string') throw invalidArg(name, 'a string key=value', arg);
    const eq = arg.indexOf('=');
    if (eq <= 0) throw invalidArg(name, 'key=value, e.g. optimizer.lr=0.1', arg);
    const path = arg.slice(0, eq).trim();
    const text = arg.slice(eq + 1);
    if (!isDottedPath(path)) throw invalidArg(name, 'a config path such as "epochs" or "optimizer.lr" before "="', path);
    if (text.trim() === '') throw invalidArg(`--set ${path}`, 'a value after "=" (write null for none)', text);
    // A command line can hold megabytes: nesting is bounded here as in a study file, before the parser recurses.
    const deep = yamlTooDeep(text);
    if (deep) throw invalidArg(`--set ${path}`, `a YAML value with ${deep.expected}`, `nested deeper at column ${deep.col}`);
    let value: unknown;
    try {
      value = parseYaml(text);
    } catch (e) {
      throw invalidArg(`--set ${path}`, `a YAML value (${(e as Error).message.split('\n')[0]})`, text);
    }
    return { path, value };
  });
}
