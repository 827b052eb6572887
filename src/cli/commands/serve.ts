import { resolve } from 'node:path';
import { startDashboard, type Dashboard } from '../../study/serve/index.js';
import { UsageError } from '../errors.js';

export interface ServeFlags {
  port?: string;
  host?: string;
  /** --allow-host, repeatable and comma-separated. */
  allowHost?: string[];
}

/** `--allow-host a.example,b.example --allow-host c` → the names, each once. */
export function parseAllowHosts(v: string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return [...new Set(v.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean))];
}

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n > 65535) throw new UsageError(`Expected a port number from 0 to 65535 for --port but received "${v}" (leave --port out for any free port)`);
  return n;
}

/** Starts the dashboard and prints its URL (token included), as Jupyter does. */
export async function openDashboard(dir: string, f: ServeFlags, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<Dashboard> {
  const host = f.host ?? '127.0.0.1';
  const d = await startDashboard({ dir: resolve(dir), host, port: parsePort(f.port), allowHosts: parseAllowHosts(f.allowHost) }).catch((e: Error) => {
    throw new UsageError(e.message);
  });
  out(`Dashboard for ${resolve(dir)} (read-only; live while runs write their files):`);
  out(`    ${d.url}`);
  if (host === '0.0.0.0' || host === '::') {
    out(`Listening on every network interface (--host ${host}): anyone who can reach this machine and has the token can read this study. From another machine, use this machine's address or host name instead of 127.0.0.1; any other name (a DNS alias, a proxy) needs --allow-host <name>.`);
  }
  return d;
}

/** Resolves at the first Ctrl-C (or SIGTERM). */
export function untilInterrupted(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function studyServeCommand(dir: string, f: ServeFlags): Promise<void> {
  const d = await openDashboard(dir, f);
  process.stdout.write('Press Ctrl-C to stop.\n');
  await untilInterrupted();
  await d.close();
}
