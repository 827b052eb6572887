// Kept apart from plan.ts, which loads the model registry (and so libtorch): a study file is checked
// with these before anything heavy is loaded.

/**
 * Config fields that may be written as a string standing for an object: `model: resnet34` is
 * `model: {preset: resnet34}`. A dotted path into such a field (`model.shortcut` as a study axis or
 * `--set`) turns the string into its object form first. (The data-by-name form can register here.)
 */
export const SHORTHANDS: Record<string, string> = { model: 'preset' };

/** In place: where `path` walks through a shorthand string, replace it with its object form. */
export function expandShorthand(config: Record<string, unknown>, path: string): void {
  const [head, ...rest] = path.split('.');
  const key = SHORTHANDS[head!];
  if (key !== undefined && rest.length > 0 && typeof config[head!] === 'string') config[head!] = { [key]: config[head!] };
}
