/**
 * What the dashboard lets in before the token is even looked at: the `Host` header (DNS rebinding, as
 * Jupyter and Vite check it) and connections that have not shown a valid token yet, which get a short
 * life and a cap so a flood of half-open sockets cannot lock the real client out.
 */
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/** Limits for connections that have not (yet) carried a valid token. */
export interface ConnectionLimits {
  /** Time to send a request's headers (Node's headersTimeout). Default 10 s. */
  headersTimeoutMs?: number;
  /** How long a connection may stay open without a request that carries the token. Default 10 s. */
  unauthenticatedMs?: number;
  /** Connections without a valid token kept at once; past it the oldest is closed. Default 64. */
  maxUnauthenticated?: number;
}

/** The limits for connections without a valid token unless `limits` says otherwise. */
export const DEFAULT_LIMITS: Required<ConnectionLimits> = { headersTimeoutMs: 10_000, unauthenticatedMs: 10_000, maxUnauthenticated: 64 };

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** `Example.org.` → `example.org`, `[::1]` → `::1`. */
function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** The host part of a Host header (`[::1]:8080` → `::1`, `example.org:80` → `example.org`); undefined if malformed. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/.exec(header.trim());
  return m ? normaliseName(m[1]!) : undefined;
}

export interface HostPolicy {
  /** True when any Host is accepted (`--allow-host '*'`). */
  any: boolean;
  names: Set<string>;
}

/**
 * The names a request may use: loopback, the bound address (every address and the name of this machine
 * for 0.0.0.0 / ::), and any the user allowed (`--allow-host`, `*` for all).
 */
export function hostPolicy(boundHost: string, allow: readonly string[] = []): HostPolicy {
  const names = new Set(LOOPBACK);
  const bound = normaliseName(boundHost);
  if (WILDCARD.has(bound)) {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(normaliseName(a.address.replace(/%.*$/, '')));
    names.add(normaliseName(hostname()));
  } else {
    names.add(bound);
  }
  let any = false;
  for (const a of allow) {
    if (a.trim() === '*') any = true;
    else names.add(hostOfHeader(a) ?? normaliseName(a)); // `name:port` allows the name: ports are not checked
  }
  return { any, names };
}

/** Undefined when the request's Host is allowed; otherwise why not, for the 403 page. */
export function refusedHost(req: IncomingMessage, policy: HostPolicy): string | undefined {
  if (policy.any) return undefined;
  const header = req.headers.host;
  if (header === undefined) return undefined; // HTTP/1.0 without Host: not a browser, so not a rebinding page
  const host = hostOfHeader(header);
  if (host !== undefined && policy.names.has(host)) return undefined;
  const shown = [...policy.names].slice(0, 8).join(', ') + (policy.names.size > 8 ? ', …' : '');
  return `This dashboard answers to ${shown}, but the request was for ${JSON.stringify(header)} (its Host header). ` +
    'A page on another site that points its own name at this machine (DNS rebinding) is refused this way. If you reach the dashboard under that name ' +
    `(a DNS name, a proxy), start it with --allow-host ${host ?? '<name>'} (or allowHosts in the API).`;
}

/** Node's own timeouts for receiving a request, checked often enough to matter (its default check is every 30 s). */
export function serverTimeouts(limits: Required<ConnectionLimits>): ServerOptions {
  return { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.headersTimeoutMs * 2, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs / 2) };
}

/**
 * Tracks every connection until one of its requests carries the token (`prove`): until then it is closed
 * after `unauthenticatedMs`, and beyond `maxUnauthenticated` such connections the oldest is closed, so new
 * connections (the token client's among them) are always accepted and heard.
 */
export class ConnectionGuard {
  readonly #pending = new Map<Socket, NodeJS.Timeout>();
  readonly #limits: Required<ConnectionLimits>;
  /** Connections closed for the cap or the time limit (for tests and logs). */
  evicted = 0;

  constructor(server: Server, limits: Required<ConnectionLimits>) {
    this.#limits = limits;
    server.on('connection', (socket: Socket) => this.#admit(socket));
  }

  #admit(socket: Socket): void {
    const timer = setTimeout(() => this.#evict(socket), this.#limits.unauthenticatedMs);
    timer.unref();
    this.#pending.set(socket, timer);
    socket.once('close', () => this.#forget(socket));
    while (this.#pending.size > this.#limits.maxUnauthenticated) this.#evict(this.#pending.keys().next().value!);
  }

  #forget(socket: Socket): void {
    clearTimeout(this.#pending.get(socket));
    this.#pending.delete(socket);
  }

  #evict(socket: Socket): void {
    if (!this.#pending.has(socket)) return;
    this.#forget(socket);
    this.evicted++;
    socket.destroy();
  }

  /** The connection carried a valid token: it is the user's, and keeps Node's usual keep-alive. */
  prove(socket: Socket): void {
    this.#forget(socket);
  }

  /** Connections that have not carried a valid token yet. */
  get unauthenticated(): number {
    return this.#pending.size;
  }
}
