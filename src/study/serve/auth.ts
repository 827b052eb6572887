/**
 * Access token, as Jupyter does it: a random token printed with the URL; the first visit with
 * `?token=` sets a cookie, and every request must carry one or the other (or an
 * `Authorization: token …` header, for scripts).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/** Cookies ignore ports, so two dashboards on one machine each need their own cookie name. */
export function cookieName(port: number): string {
  return `ablate-dashboard-${port}`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export type TokenSource = 'query' | 'cookie' | 'header';

/** Which credential carried the right token, or undefined when none did. */
export function authorised(req: IncomingMessage, url: URL, token: string, port: number): TokenSource | undefined {
  const q = url.searchParams.get('token');
  if (q !== null && same(q, token)) return 'query';
  const c = cookies(req).get(cookieName(port));
  if (c !== undefined && same(c, token)) return 'cookie';
  const h = /^token\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (h && same(h[1]!, token)) return 'header';
  return undefined;
}

export function tokenCookie(token: string, port: number): string {
  return `${cookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`;
}
