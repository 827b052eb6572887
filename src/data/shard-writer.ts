/**
 * Any Dataset written out as WebDataset shards: `<prefix>-000000.tar`, … each holding `<key>.<ext>` (the
 * image's own bytes, or a PNG for sources stored as pixels) and `<key>.cls` (the label), plus
 * `classes.txt` beside them. Shards are written under a temporary name and renamed when complete.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { sharpLib } from '../util/sharp-lib.js';
import { Header } from 'tar';
import type { Dataset } from './types.js';

export interface ShardWriteOptions {
  /** File name prefix; the split name a reader gives the shards (`train` → train-000000.tar). */
  prefix: string;
  /** Samples per shard. Default 10,000. */
  samplesPerShard?: number;
  /** Start a new shard once this many bytes are written. Default 1 GB. */
  maxShardBytes?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The extension a decoder knows these bytes by. */
export function imageExt(b: Uint8Array): string {
  if (b[0] === 0xff && b[1] === 0xd8) return 'jpg';
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) return 'gif';
  if (b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  if (Buffer.from(b.subarray(0, 4)).toString('latin1') === 'RIFF' && Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP') return 'webp';
  if ((b[0] === 0x49 && b[1] === 0x49) || (b[0] === 0x4d && b[1] === 0x4d)) return 'tif';
  return 'jpg';
}

function tarHeader(path: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  // Fixed owner and mtime: the same data gives the same shard bytes on every machine.
  new Header({ path, mode: 0o644, size, mtime: new Date(0), type: 'File', uid: 0, gid: 0, uname: '', gname: '' }).encode(block, 0);
  return block;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

/** Write `ds` as shards into `dir`; returns the shard paths. Keys are the zero-padded index in `ds`. */
export async function writeWebDataset(ds: Dataset, dir: string, o: ShardWriteOptions): Promise<string[]> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(o.prefix)) throw new TypeError(`Expected a shard prefix of letters, digits, '_', '.' and '-' but received ${JSON.stringify(o.prefix)}`);
  const per = o.samplesPerShard ?? 10_000;
  const maxBytes = o.maxShardBytes ?? 1e9;
  if (!Number.isInteger(per) || per < 1) throw new TypeError(`Expected a positive integer for samples per shard but received ${per}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'classes.txt'), ds.classNames.join('\n') + '\n');
  const written: string[] = [];
  let shard = -1;
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let tmp = '';
  let inShard = 0;
  let bytes = 0;
  const finish = async (): Promise<void> => {
    if (!fh) return;
    await fh.write(Buffer.alloc(1024)); // end-of-archive: two zero blocks
    await fh.sync();
    await fh.close();
    fh = undefined;
    const final = join(dir, `${o.prefix}-${String(shard).padStart(6, '0')}.tar`);
    renameSync(tmp, final);
    written.push(final);
  };
  try {
    for (let i = 0; i < ds.length; i++) {
      if (o.signal?.aborted) throw new Error(`stopped after ${i} of ${ds.length} samples; the complete shards are kept in ${dir}`);
      if (!fh || inShard >= per || bytes >= maxBytes) {
        await finish();
        shard++;
        tmp = join(dir, `.${o.prefix}-${String(shard).padStart(6, '0')}.tar.${process.pid}.tmp`);
        fh = await open(tmp, 'w');
        inShard = 0;
        bytes = 0;
      }
      const item = await ds.read(i);
      const image = item.kind === 'encoded' ? item.bytes : await (await sharpLib())(item.pixels, { raw: { width: item.width, height: item.height, channels: 3 } }).png().toBuffer();
      const key = String(i).padStart(9, '0');
      const cls = Buffer.from(`${ds.label(i)}\n`);
      const parts = [tarHeader(`${key}.${imageExt(image)}`, image.length), Buffer.from(image.buffer, image.byteOffset, image.length), pad(image.length),
        tarHeader(`${key}.cls`, cls.length), cls, pad(cls.length)];
      for (const p of parts) await fh.write(p);
      bytes += parts.reduce((s, p) => s + p.length, 0);
      inShard++;
      o.onProgress?.(i + 1, ds.length);
    }
    await finish();
    return written;
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    if (tmp) rmSync(tmp, { force: true });
    throw e;
  }
}
