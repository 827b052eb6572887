/**
 * Every way a download can fail ends in one DownloadError: which URL, which file, what was expected,
 * what happened, and what the user can do now — including where to get the file by hand and exactly
 * where to put it so the next run finds it.
 */
export type DownloadFailure =
  | 'http-status' // 4xx/5xx from the server
  | 'network' // DNS failure, refused or reset connection, no route
  | 'timeout' // no byte for longer than the timeout
  | 'checksum' // the bytes arrived but are not the expected file
  | 'size' // more bytes than the catalogue says the file has
  | 'disk' // ENOSPC, EACCES, EROFS while writing
  | 'locked' // another process holds the download lock for too long
  | 'aborted'; // Ctrl-C

export interface DownloadErrorInfo {
  failure: DownloadFailure;
  url: string;
  /** The final place the file would have had. */
  file: string;
  /** What went wrong, in words, ending with the received value. */
  detail: string;
  /** What to do next. */
  remedy: string;
  /** The official address to download it by hand, if any. */
  manualUrl?: string;
  status?: number;
  cause?: unknown;
  /** Override whether another attempt may help (default: network, timeout, 5xx and 429 may). */
  retryable?: boolean;
}

export class DownloadError extends Error {
  readonly failure: DownloadFailure;
  readonly url: string;
  readonly file: string;
  readonly status?: number;
  readonly detail: string;
  readonly remedy: string;
  readonly manualUrl?: string;
  readonly retryable: boolean;
  constructor(info: DownloadErrorInfo) {
    const manual = info.manualUrl ? `\n  or download it by hand from ${info.manualUrl} and put it at ${info.file}` : `\n  or put the file there by hand: ${info.file}`;
    super(`could not download ${info.url}\n  to ${info.file}: ${info.detail}\n  ${info.remedy}${manual}`, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'DownloadError';
    this.failure = info.failure;
    this.url = info.url;
    this.file = info.file;
    this.status = info.status;
    this.detail = info.detail;
    this.remedy = info.remedy;
    this.manualUrl = info.manualUrl;
    this.retryable = info.retryable ?? (info.failure === 'network' || info.failure === 'timeout' || (info.failure === 'http-status' && (info.status === 429 || (info.status ?? 0) >= 500)));
  }
}

/** Errors worth another attempt after a pause: the network or the server may recover. */
export function isTransient(e: unknown): boolean {
  return e instanceof DownloadError && e.retryable;
}

const NETWORK_WORDS: Record<string, string> = {
  ENOTFOUND: 'the host name could not be resolved (DNS failure, or no network at all)',
  EAI_AGAIN: 'the DNS lookup failed for now (no network, or the name server is unreachable)',
  ECONNREFUSED: 'the connection was refused (nothing listens there, or a firewall rejects it)',
  ECONNRESET: 'the connection was reset by the other side',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  ENETUNREACH: 'the network is unreachable (no network connection)',
  EHOSTUNREACH: 'the host is unreachable',
  UND_ERR_SOCKET: 'the connection was closed by the other side mid-transfer',
  UND_ERR_CONNECT_TIMEOUT: 'connecting timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the server sent no response in time',
  UND_ERR_BODY_TIMEOUT: 'the server stopped sending data',
  UND_ERR_ABORTED: 'the request was aborted',
};

/** The most specific error code along the `cause` chain (undici wraps socket errors such as ECONNRESET). */
export function errorCode(e: unknown): string | undefined {
  const codes: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 5; depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string') codes.push(c);
    cur = (cur as { cause?: unknown }).cause;
  }
  return codes.find((c) => !c.startsWith('UND_ERR')) ?? codes[0];
}

export function describeNetworkError(e: unknown): { words: string; timeout: boolean; fatal: boolean } {
  const code = errorCode(e) ?? '';
  const words = NETWORK_WORDS[code] ?? (e as Error)?.message ?? String(e);
  const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT';
  // A name that does not resolve will not resolve a second later either.
  return { words: code ? `${words} (${code})` : words, timeout, fatal: code === 'ENOTFOUND' };
}
