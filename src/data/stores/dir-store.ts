import { open, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { byPath, type ByteStore, type StoreEntry } from './store.js';

export class DirStore implements ByteStore {
  constructor(readonly location: string) {}

  async list(): Promise<StoreEntry[]> {
    const out: StoreEntry[] = [];
    const walk = async (rel: string): Promise<void> => {
      const dirents = await readdir(join(this.location, rel), { withFileTypes: true });
      for (const d of dirents) {
        if (d.name.startsWith('.')) continue; // .DS_Store, editor temp files, our own cache temp files
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) await walk(p);
        else if (d.isFile() || d.isSymbolicLink()) {
          const s = await stat(join(this.location, p)).catch(() => null);
          if (s?.isFile()) out.push({ path: p, size: s.size, stamp: String(Math.trunc(s.mtimeMs)) });
        }
      }
    };
    await walk('');
    return out.sort(byPath);
  }

  async read(path: string): Promise<Uint8Array> {
    return readFile(join(this.location, path));
  }

  async head(path: string, n: number): Promise<Uint8Array> {
    const fh = await open(join(this.location, path), 'r');
    try {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {}
}
