export { fetchFile, sourceUrl, proxyDispatcher, parseByteSize, DEFAULT_MAX_BYTES, DEFAULT_DEADLINE_S, DEFAULT_MIN_SPEED, type RemoteFile, type FetchOptions, type FetchResult } from './download.js';
export { DownloadError, type DownloadFailure } from './errors.js';
export { DownloadProgress, formatBytes, type DownloadProgressOptions, type ProgressStream } from './progress.js';
export { checkFile, sha256File, hashPrefixFromName, digestMatches, type Expected, type CheckResult } from './verify.js';
export { dataCacheDir, torchHubCheckpointsDir, resolveMirror } from './places.js';
