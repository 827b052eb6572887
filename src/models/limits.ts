/**
 * How large a configured model may be. Weights are allocated when a model is built (summaries included), so an
 * absurd config (a width of 16384 over 256 blocks) would exhaust memory instead of failing; families count their
 * parameters from the config first and refuse beyond this, twice the largest torchvision classifier (ViT-H/14's 632M
 * is within it).
 */
export const MAX_MODEL_PARAMS = 2_000_000_000;

/** The issue for a config over the limit, or [] (path: the field that grows the model most, as the family sees it). */
export function paramLimitIssue(params: number, path: string): { path: string; message: string }[] {
  if (params <= MAX_MODEL_PARAMS) return [];
  const fmt = (n: number) => `${(n / 1e9).toFixed(n < 1e11 ? 2 : 0)}G`;
  return [{ path, message: `expected a model of at most ${fmt(MAX_MODEL_PARAMS)} parameters (its weights are allocated when it is built), received a config of ${fmt(params)}; make ${path} smaller` }];
}
