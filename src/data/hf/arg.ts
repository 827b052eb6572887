/** `hf:OWNER/NAME[@REVISION]` on the command line (`--data hf:ethz/food101`), as a data spec's fields. */
export function parseHfArg(arg: string | undefined): { source: 'hf'; name: string; revision?: string } | undefined {
  if (arg === undefined || !arg.startsWith('hf:')) return undefined;
  const rest = arg.slice(3);
  const at = rest.indexOf('@');
  return at < 0 ? { source: 'hf', name: rest } : { source: 'hf', name: rest.slice(0, at), revision: rest.slice(at + 1) };
}

/** A `--data` value as data spec fields: `generated`, `hf:OWNER/NAME[@REV]`, an http(s) shard pattern, or a local path. */
export function dataArgFields(arg: string, resolvePath: (p: string) => string): Record<string, string> {
  if (arg === 'generated') return { source: 'generated' };
  return parseHfArg(arg) ?? { path: /^https?:\/\//.test(arg) ? arg : resolvePath(arg) };
}
