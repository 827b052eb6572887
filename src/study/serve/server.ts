/**
 * `ablate study serve`: a read-only web page over a study folder, updated live. Node's own http
 * module; the page renders the report's Vega-Lite specs with vega-embed. Safe by default: loopback
 * only, a random access token on every request, nothing outside the study folder, GET/HEAD only.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { escapeHtml, REPORT_CSS } from '../report/html.js';
import { assetTable, type Asset } from './assets.js';
import { authorised, newToken, tokenCookie } from './auth.js';
import { ConnectionGuard, DEFAULT_LIMITS, hostOfHeader, hostPolicy, refusedHost, serverTimeouts, type ConnectionLimits } from './guard.js';
import { resolveInside } from './safe-path.js';
import { dashboardState, type DashboardState } from './snapshot.js';
import { StudyWatcher } from './watch.js';

export interface DashboardOptions {
  /** The study folder (as written by `ablate study run`). */
  dir: string;
  /** Default 127.0.0.1. Anything else exposes the study to the network (with the token). */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default: 48 random hex digits. */
  token?: string;
  /** How often the folder is checked for changes (default 500 ms). */
  pollMs?: number;
  /**
   * Host names (Host header) accepted besides loopback and the bound address (for 0.0.0.0: this machine's
   * addresses and name): a DNS name or proxy the dashboard is reached under; `*` accepts any.
   */
  allowHosts?: string[];
  /** Time limits and a cap for connections that have not shown the token (see ConnectionLimits). */
  limits?: ConnectionLimits;
}

export interface Dashboard {
  /** The URL to open, token included. */
  url: string;
  host: string;
  port: number;
  token: string;
  /** Clients currently connected for live updates. */
  clients: () => number;
  /** Connections open that have not carried a valid token yet. */
  unauthenticated: () => number;
  close: () => Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.json': 'application/json; charset=utf-8',
  // Shown as text in the browser rather than downloaded.
  '.md': 'text/plain; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.csv': 'text/plain; charset=utf-8',
  '.yaml': 'text/plain; charset=utf-8',
  '.yml': 'text/plain; charset=utf-8',
};

/** The page runs Vega, whose expression compiler needs eval; nothing else is allowed from anywhere but here. */
const PAGE_CSP = "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** Study files (report.html, SVG plots) are shown but may run nothing: a study folder is data, not code. */
const FILES_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'";

function headers(res: ServerResponse, extra: Record<string, string> = {}): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // The token may be in the URL: never send it on to another site.
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cache-Control', 'no-store');
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  headers(res, { 'Content-Type': type, ...extra });
  res.statusCode = status;
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function errorPage(res: ServerResponse, status: number, title: string, detail: string, extra: Record<string, string> = {}): void {
  const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${status} ${escapeHtml(title)}</title>
<style>${REPORT_CSS}</style></head><body><main><h1>${status} ${escapeHtml(title)}</h1><p>${escapeHtml(detail)}</p></main></body></html>`;
  send(res, status, 'text/html; charset=utf-8', html, { 'Content-Security-Policy': FILES_CSP, ...extra });
}

function listing(res: ServerResponse, urlPath: string, dir: string): void {
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() || d.isDirectory() || d.isSymbolicLink())
    .sort((a, b) => Number(b.isDirectory()) - Number(a.isDirectory()) || a.name.localeCompare(b.name));
  const rows = entries.map((d) => {
    let size = '';
    try {
      const s = statSync(join(dir, d.name));
      size = s.isDirectory() ? '' : s.size.toLocaleString('en-US');
    } catch { /* a dangling link: listed, refused when opened */ }
    const name = d.name + (d.isDirectory() ? '/' : '');
    return `<tr><td><a href="${encodeURIComponent(d.name)}${d.isDirectory() ? '/' : ''}">${escapeHtml(name)}</a></td><td class="num">${size}</td></tr>`;
  });
  const up = urlPath === '/files/' ? '<a href="../">dashboard</a>' : '<a href="../">..</a>';
  const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(decodeURIComponent(urlPath))}</title>
<style>${REPORT_CSS}</style></head><body><main><h1>${escapeHtml(decodeURIComponent(urlPath.replace(/^\/files/, '')) || '/')}</h1><p>${up}</p>
<table><thead><tr><th>Name</th><th class="num">Bytes</th></tr></thead><tbody>${rows.join('')}</tbody></table></main></body></html>`;
  send(res, 200, 'text/html; charset=utf-8', html, { 'Content-Security-Policy': FILES_CSP });
}

function serveFile(res: ServerResponse, file: string, type: string, size: number, csp: string): void {
  headers(res, { 'Content-Type': type, 'Content-Length': String(size), 'Content-Security-Policy': csp });
  res.statusCode = 200;
  if (res.req.method === 'HEAD') return void res.end();
  const stream = createReadStream(file);
  // A file deleted or truncated between stat and read: end the response rather than crash the server.
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

export function validateDashboardOptions(o: DashboardOptions): void {
  if (!existsSync(o.dir) || !statSync(o.dir).isDirectory()) {
    throw new TypeError(`Expected a study folder for the dashboard but received ${JSON.stringify(o.dir)} (no such folder); run \`ablate study run <file>\` first, or pass the folder it wrote (runs/<study name>)`);
  }
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) {
    throw new RangeError(`Expected a port number from 0 to 65535 (0: any free port) for port but received ${o.port}`);
  }
  if (o.token !== undefined && !/^[\x21-\x7e]{16,}$/.test(o.token)) {
    throw new RangeError('Expected a token of at least 16 printable characters without spaces for token but received a shorter or invalid one');
  }
  for (const h of o.allowHosts ?? []) {
    if (h.trim() !== '*' && hostOfHeader(h) === undefined) {
      throw new RangeError(`Expected a host name or address (example.org, 10.0.0.5, [::1]) or * for allowHosts (--allow-host) but received ${JSON.stringify(h)}`);
    }
  }
  for (const [k, v] of Object.entries(o.limits ?? {})) {
    if (!(k in DEFAULT_LIMITS)) throw new RangeError(`Expected one of ${Object.keys(DEFAULT_LIMITS).join(', ')} in limits but received ${JSON.stringify(k)}`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`Expected a whole number ≥ 1 for limits.${k} but received ${JSON.stringify(v)}`);
  }
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  validateDashboardOptions(o);
  const root = realpathSync(o.dir);
  const host = o.host ?? '127.0.0.1';
  const token = o.token ?? newToken();
  const assets = assetTable();
  const clients = new Set<ServerResponse>();
  let port = 0;
  let state: DashboardState | undefined;
  let stateJson = '';

  const refresh = (): string => {
    state = dashboardState(root);
    stateJson = JSON.stringify(state);
    return stateJson;
  };
  const push = () => {
    const json = refresh();
    for (const c of clients) c.write(`event: state\ndata: ${json}\n\n`);
  };
  // Runs nested deeper than the top level of the folder are watched through their links.
  const runDirs = () => (state?.runs ?? []).flatMap((r) => (r.href ? [join(root, ...r.href.slice('files/'.length).split('/').filter(Boolean).map(decodeURIComponent))] : []));
  const watcher = new StudyWatcher(root, push, runDirs, o.pollMs ?? 500);
  const heartbeat = setInterval(() => {
    for (const c of clients) c.write(': still here\n\n');
  }, 15_000);
  heartbeat.unref();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    } catch {
      return errorPage(res, 400, 'Bad request', 'The request URL could not be parsed.');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain; charset=utf-8', 'This dashboard is read-only: only GET and HEAD are allowed.\n', { Allow: 'GET, HEAD' });
    }
    // Refused requests close their connection: nothing without the token lingers.
    const badHost = refusedHost(req, hosts);
    if (badHost) return errorPage(res, 403, 'Host not allowed', badHost, { Connection: 'close' });
    const auth = authorised(req, url, token, port);
    if (!auth) {
      return errorPage(res, 403, 'Access token required',
        'This dashboard needs the access token printed by `ablate study serve` (or `ablate study run --dashboard`) when it started: open the full URL it printed, …/?token=…', { Connection: 'close' });
    }
    guard.prove(req.socket);
    // First visit with ?token=: keep it in a cookie and drop it from the address bar (and from history).
    if (auth === 'query' && !url.pathname.startsWith('/api/') && !url.pathname.startsWith('/vendor/')) {
      url.searchParams.delete('token');
      return send(res, 302, 'text/plain; charset=utf-8', '', { 'Set-Cookie': tokenCookie(token, port), Location: `/${url.pathname.replace(/^\/+/, '')}${url.search}` });
    }
    // The path as sent, not as URL parsing normalises it: `/files/%2e%2e/x` must reach the folder check (and be refused), not turn into `/x`.
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/api/state') {
      return send(res, 200, 'application/json; charset=utf-8', refresh());
    }
    if (path === '/api/events') {
      headers(res, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
      res.statusCode = 200;
      if (req.method === 'HEAD') return void res.end();
      res.write(`retry: 1000\n\nevent: state\ndata: ${refresh()}\n\n`);
      clients.add(res);
      watcher.start();
      req.on('close', () => {
        clients.delete(res);
        if (clients.size === 0) watcher.stop();
      });
      return;
    }
    if (path === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (path === '/page/report.css') return send(res, 200, 'text/css; charset=utf-8', REPORT_CSS);
    const asset: Asset | undefined = assets.get(path);
    if (asset) {
      try {
        const body = readFileSync(asset.file);
        return send(res, 200, asset.type, body, path === '/' ? { 'Content-Security-Policy': PAGE_CSP, 'X-Frame-Options': 'DENY' } : {});
      } catch (e) {
        return errorPage(res, 500, 'Missing page file', `${asset.file}: ${(e as Error).message}. Reinstall ablate (npm ci).`);
      }
    }
    if (path === '/files' || path.startsWith('/files/')) {
      const r = resolveInside(root, path.slice('/files/'.length));
      if (!r.ok) return errorPage(res, r.status, r.status === 404 ? 'Not found' : 'Refused', `${r.reason}.`);
      if (r.stat.isDirectory()) {
        if (!path.endsWith('/')) return send(res, 301, 'text/plain; charset=utf-8', '', { Location: `${path}/` });
        try {
          return listing(res, path, r.path);
        } catch (e) {
          return errorPage(res, 500, 'Unreadable folder', (e as Error).message);
        }
      }
      return serveFile(res, r.path, CONTENT_TYPES[extname(r.path).toLowerCase()] ?? 'application/octet-stream', r.stat.size, FILES_CSP);
    }
    return errorPage(res, 404, 'Not found', `Nothing at ${path}.`);
  };

  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const hosts = hostPolicy(host, o.allowHosts);
  const server: Server = createServer(serverTimeouts(limits), (req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      // One bad request (a file vanishing mid-read) must not take the dashboard down.
      if (!res.headersSent) errorPage(res, 500, 'Internal error', (e as Error).message);
      else res.destroy();
    }
  });
  const guard = new ConnectionGuard(server, limits);
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new Error(`port ${o.port} on ${host} is already in use: pick another with --port, or leave --port out for a free one`));
      else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new Error(`cannot listen on host ${JSON.stringify(host)}: not an address of this machine (use 127.0.0.1, or 0.0.0.0 for every interface)`));
      else if (e.code === 'EACCES') reject(new Error(`no permission to listen on port ${o.port} (ports below 1024 need root): pick another with --port`));
      else reject(e);
    });
    server.listen(o.port ?? 0, host, () => resolveListen());
  });
  port = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/?token=${token}`,
    host,
    port,
    token,
    clients: () => clients.size,
    unauthenticated: () => guard.unauthenticated,
    close: () => new Promise<void>((done) => {
      watcher.stop();
      clearInterval(heartbeat);
      for (const c of clients) c.end();
      clients.clear();
      server.close(() => done());
      server.closeAllConnections();
    }),
  };
}
