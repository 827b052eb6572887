/**
 * A Hugging Face Hub stand-in on 127.0.0.1: `api/datasets/<id>/revision/<rev>` with the file list,
 * `datasets/<id>/resolve/<rev>/<path>` answering like the Hub (X-Repo-Commit, ETag, 302 to a CDN path
 * for LFS files), Range requests, and faults on request (gated, cut connection, wrong bytes).
 * Parquet shards are written here with hyparquet-writer, holding PNG/JPEG bytes of generated images.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parquetWriteBuffer } from 'hyparquet-writer';
import sharp from 'sharp';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export interface RepoFile {
  path: string;
  body: Buffer;
  lfs: boolean;
}

export interface HubState {
  /** The one dataset id served (default tiny/food); others answer 404 like the Hub. */
  id?: string;
  /** Old id → current id: answered with 307 to the same path under the current id, as the Hub does. */
  renamed?: Map<string, string>;
  /** commit → files */
  commits: Map<string, RepoFile[]>;
  /** branch → commit */
  refs: Map<string, string>;
  /** Answer 401 to requests without this bearer token. */
  token?: string;
  /** Cut the connection after this many body bytes for the first request of a path (CDN paths). */
  cut?: Map<string, number>;
  /** Serve these bytes instead of the real ones (same or different length). */
  corrupt?: Map<string, Buffer>;
}

export interface HubServer {
  base: string;
  state: HubState;
  requests: { path: string; range?: string; auth?: string }[];
  close(): Promise<void>;
}

export async function startHub(state: HubState): Promise<HubServer> {
  const requests: HubServer['requests'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    requests.push({ path, range: req.headers.range, auth: req.headers.authorization });
    if (state.token !== undefined && req.headers.authorization !== `Bearer ${state.token}`) {
      res.writeHead(401, { 'x-error-code': 'GatedRepo', 'content-type': 'application/json' }).end('{"error":"Access to dataset is restricted"}');
      return;
    }
    for (const [old, now] of state.renamed ?? []) {
      for (const prefix of ['/api/datasets/', '/datasets/']) {
        if (path.startsWith(`${prefix}${old}/`)) return void res.writeHead(307, { location: `${prefix}${now}/${path.slice(prefix.length + old.length + 1)}${url.search}` }).end();
      }
    }
    const api = /^\/api\/datasets\/(.+)\/revision\/(.+)$/.exec(path);
    const known = (id: string) => id === (state.id ?? 'tiny/food');
    if (api && !known(api[1]!)) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('{"error":"Repository not found"}');
    if (api) {
      const commit = state.refs.get(api[2]!) ?? api[2]!;
      if (!state.commits.has(commit)) return void res.writeHead(404).end('{"error":"Revision Not Found"}');
      // Like the Hub: sizes, blob ids and LFS hashes only when asked for (?blobs=True).
      const blobs = /^true$/i.test(url.searchParams.get('blobs') ?? '');
      const siblings = state.commits.get(commit)!.map((f) => (!blobs ? { rfilename: f.path } : {
        rfilename: f.path, size: f.body.length, blobId: gitSha1(f.body),
        ...(f.lfs ? { lfs: { sha256: sha256(f.body), size: f.body.length, pointerSize: 134 } } : {}),
      }));
      res.writeHead(200, { 'content-type': 'application/json', 'x-repo-commit': commit }).end(JSON.stringify({ id: api[1], sha: commit, siblings }));
      return;
    }
    const resolve = /^\/datasets\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve && !known(resolve[1]!)) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('not found');
    if (resolve) {
      const commit = state.refs.get(resolve[2]!) ?? resolve[2]!;
      const f = state.commits.get(commit)?.find((x) => x.path === resolve[3]);
      if (!f) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end('not found');
      const etag = f.lfs ? sha256(f.body) : gitSha1(f.body);
      const headers = { 'x-repo-commit': commit, etag: `"${etag}"`, ...(f.lfs ? { 'x-linked-etag': `"${etag}"`, 'x-linked-size': String(f.body.length) } : {}) };
      if (f.lfs) return void res.writeHead(302, { ...headers, location: `/cdn/${etag}` }).end();
      return void serveBytes(req, res, path, state.corrupt?.get(f.path) ?? f.body, headers, state);
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      for (const files of state.commits.values()) {
        const f = files.find((x) => x.lfs && sha256(x.body) === cdn[1]);
        if (f) return void serveBytes(req, res, path, state.corrupt?.get(f.path) ?? f.body, {}, state);
      }
    }
    res.writeHead(404).end('not found');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function serveBytes(req: IncomingMessage, res: ServerResponse, path: string, body: Buffer, headers: Record<string, string>, state: HubState): void {
  let start = 0;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    start = Number(m[1]);
    if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    res.writeHead(206, { ...headers, 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes' });
  } else {
    res.writeHead(200, { ...headers, 'content-length': body.length, 'accept-ranges': 'bytes' });
  }
  const cutAt = state.cut?.get(path);
  if (cutAt !== undefined) {
    state.cut!.delete(path);
    res.write(body.subarray(start, cutAt), () => setTimeout(() => res.socket?.destroy(), 200));
    return;
  }
  res.end(body.subarray(start));
}

export const CLASSES = ['apple_pie', 'baby_back_ribs', 'baklava'];
/** Colour per class, so a decoded image tells its label. */
export const COLOURS: [number, number, number][] = [[220, 40, 40], [40, 200, 60], [40, 60, 220]];

export async function image(label: number, k: number, format: 'png' | 'jpeg', side = 16): Promise<Buffer> {
  const px = Buffer.alloc(side * side * 3);
  for (let i = 0; i < side * side; i++) {
    const c = COLOURS[label]!;
    px[i * 3] = Math.max(0, c[0] - (k % 7));
    px[i * 3 + 1] = c[1];
    px[i * 3 + 2] = c[2];
  }
  const s = sharp(px, { raw: { width: side, height: side, channels: 3 } });
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 95 }).toBuffer();
}

/** One shard as `datasets` writes it: an `image` struct {bytes, path} and an int64 `label`, with its features in the metadata. */
export function parquetShard(rows: { bytes: Uint8Array; label: number }[], o: { rowGroupSize?: number; embedFeatures?: boolean; labelName?: string; classNames?: string[] } = {}): Buffer {
  const labelName = o.labelName ?? 'label';
  const schema = [
    { name: 'root', num_children: 2 },
    { name: 'image', repetition_type: 'OPTIONAL' as const, num_children: 2 },
    { name: 'bytes', type: 'BYTE_ARRAY' as const, repetition_type: 'OPTIONAL' as const },
    { name: 'path', type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const },
    { name: labelName, type: 'INT64' as const, repetition_type: 'OPTIONAL' as const },
  ];
  const features = { image: { _type: 'Image' }, [labelName]: { _type: 'ClassLabel', names: o.classNames ?? CLASSES } };
  const buf = parquetWriteBuffer({
    schema,
    columnData: [
      { name: 'image', data: rows.map((r, i) => ({ bytes: new Uint8Array(r.bytes), path: `img${i}.png` })) },
      { name: labelName, data: rows.map((r) => BigInt(r.label)) },
    ],
    rowGroupSize: o.rowGroupSize ?? 4,
    kvMetadata: o.embedFeatures === false ? [] : [{ key: 'huggingface', value: JSON.stringify({ info: { features } }) }],
  });
  return Buffer.from(buf);
}

export const README = `---
dataset_info:
  features:
  - name: image
    dtype: image
  - name: label
    dtype:
      class_label:
        names:
          '0': apple_pie
          '1': baby_back_ribs
          '2': baklava
  splits:
  - name: train
    num_examples: 12
  - name: validation
    num_examples: 6
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: validation
    path: data/validation-*
---
# Tiny food

A fixture shaped like ethz/food101.
`;

export interface Fixture {
  files: RepoFile[];
  /** Per split, the image bytes and labels in dataset order. */
  rows: Record<string, { bytes: Buffer; label: number }[]>;
}

/** Train (2 shards, PNG and JPEG), validation (1 shard), and the card. */
export async function foodFixture(n = { train: 12, validation: 6 }): Promise<Fixture> {
  const rows: Fixture['rows'] = {};
  for (const [split, count] of Object.entries(n)) {
    rows[split] = [];
    for (let i = 0; i < count; i++) {
      const label = (i * 7 + split.length) % 3;
      rows[split]!.push({ bytes: await image(label, i, i % 2 === 0 ? 'png' : 'jpeg'), label });
    }
  }
  const half = Math.ceil(n.train / 2);
  const files: RepoFile[] = [
    { path: '.gitattributes', body: Buffer.from('*.parquet filter=lfs diff=lfs merge=lfs -text\n'), lfs: false },
    { path: 'README.md', body: Buffer.from(README), lfs: false },
    { path: 'data/train-00000-of-00002.parquet', body: parquetShard(rows.train!.slice(0, half)), lfs: true },
    { path: 'data/train-00001-of-00002.parquet', body: parquetShard(rows.train!.slice(half)), lfs: true },
    { path: 'data/validation-00000-of-00001.parquet', body: parquetShard(rows.validation!), lfs: true },
  ];
  return { files, rows };
}
