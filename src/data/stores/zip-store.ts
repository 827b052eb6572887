import yauzl from 'yauzl';
import { closeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { openRegularFileSync } from '../../util/regular-file.js';
import { byPath, type ByteStore, type StoreEntry } from './store.js';

/**
 * Reads members of a zip in place (the Kaggle `kagglecatsanddogs_*.zip` is 800 MB; extracting it
 * is a step users should not need). One open zip serves concurrent reads through positional I/O.
 */
export class ZipStore implements ByteStore {
  private constructor(
    readonly location: string,
    private readonly zip: yauzl.ZipFile,
    private readonly entries: Map<string, yauzl.Entry>,
    private readonly dirs: ReadonlySet<string>,
  ) {}

  static async open(path: string): Promise<ZipStore> {
    // Opened here, not by yauzl, so a device or FIFO named .zip is refused by kind instead of read forever.
    const { fd } = openRegularFileSync(path, { what: 'zip archive' });
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
      yauzl.fromFd(fd, { lazyEntries: true, autoClose: false }, (err, z) => (err ? (closeSync(fd), reject(err)) : resolve(z!))),
    );
    const entries = new Map<string, yauzl.Entry>();
    const dirs = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (e: yauzl.Entry) => {
        // Directory entries end in '/'; macOS zips add __MACOSX/ resource forks that are not images.
        if (!e.fileName.startsWith('__MACOSX/')) {
          if (!e.fileName.endsWith('/')) entries.set(e.fileName, e);
          // Folders: explicit entries (which may be empty) and every parent of a file.
          const parts = e.fileName.split('/').slice(0, -1);
          for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
        }
        zip.readEntry();
      });
      zip.on('end', () => resolve());
      zip.on('error', reject);
      zip.readEntry();
    });
    return new ZipStore(path, zip, entries, dirs);
  }

  async list(): Promise<StoreEntry[]> {
    return [...this.entries.values()]
      .map((e) => ({ path: e.fileName, size: e.uncompressedSize, stamp: e.crc32.toString(16) }))
      .sort(byPath);
  }

  async listDirs(): Promise<string[]> {
    return [...this.dirs].sort();
  }

  private stream(path: string): Promise<Readable> {
    const e = this.entries.get(path);
    if (!e) return Promise.reject(new Error(`no member ${JSON.stringify(path)} in ${this.location}`));
    return new Promise((resolve, reject) => this.zip.openReadStream(e, (err, s) => (err ? reject(err) : resolve(s!))));
  }

  async read(path: string): Promise<Uint8Array> {
    const s = await this.stream(path);
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async head(path: string, n: number): Promise<Uint8Array> {
    const s = await this.stream(path);
    const chunks: Buffer[] = [];
    let got = 0;
    try {
      for await (const c of s) {
        chunks.push(c as Buffer);
        got += (c as Buffer).length;
        if (got >= n) break; // leaving the loop destroys the stream, so the rest is never inflated
      }
    } catch (e) {
      if (got === 0) throw e;
    }
    return Buffer.concat(chunks).subarray(0, n);
  }

  async close(): Promise<void> {
    this.zip.close();
  }
}
