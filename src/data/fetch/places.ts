import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

type Env = Record<string, string | undefined>;

/** Where fetched datasets live: $ABLATE_DATA_DIR, else ~/.cache/ablate/datasets (next to the decoded-image cache). */
export function dataCacheDir(env: Env = process.env): string {
  return env.ABLATE_DATA_DIR ? resolve(env.ABLATE_DATA_DIR) : join(env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache'), 'ablate', 'datasets');
}

/**
 * PyTorch's checkpoint cache, found as torch.hub finds it: $TORCH_HOME/hub/checkpoints, TORCH_HOME
 * defaulting to $XDG_CACHE_HOME/torch, XDG_CACHE_HOME to ~/.cache. Files are shared with PyTorch both ways.
 */
export function torchHubCheckpointsDir(env: Env = process.env): string {
  const torchHome = env.TORCH_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'torch');
  return join(resolve(torchHome.replace(/^~(?=$|\/)/, homedir())), 'hub', 'checkpoints');
}

/** The mirror to use: an explicit one (`--mirror`), else $ABLATE_MIRROR; undefined for the official hosts. */
export function resolveMirror(explicit?: string, env: Env = process.env): string | undefined {
  const m = explicit ?? env.ABLATE_MIRROR;
  if (m === undefined || m === '') return undefined;
  let u: URL;
  try {
    u = new URL(m);
  } catch {
    throw new TypeError(`Expected an http(s) base URL for the mirror (--mirror or ABLATE_MIRROR) but received ${JSON.stringify(m)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TypeError(`Expected an http(s) base URL for the mirror (--mirror or ABLATE_MIRROR) but received ${JSON.stringify(m)}`);
  }
  return m;
}
