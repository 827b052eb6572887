import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { byPath, type ByteStore, type StoreEntry } from './store.js';
import { readImageFile } from '../decode.js';
import { openRegularFile } from '../../util/regular-file.js';

/**
 * A folder of files. Symbolic links to files and folders are followed (datasets are often assembled
 * from links into a shared pool); a link that leads back into its own ancestry, or two paths reaching
 * the same folder, is refused with both paths named, since either would walk forever or count the same
 * images twice (possibly under two labels, or in both training and validation).
 */
export class DirStore implements ByteStore {
  private dirs: string[] | undefined;
  constructor(readonly location: string) {}

  async list(): Promise<StoreEntry[]> {
    const out: StoreEntry[] = [];
    const dirs: string[] = [];
    /** Real path of each folder walked so far -> the path it was first reached by. */
    const seen = new Map<string, string>();
    const shown = (rel: string) => (rel ? `${rel}/` : '(the root)');
    const walk = async (rel: string, ancestors: readonly string[]): Promise<void> => {
      const abs = join(this.location, rel);
      const real = await realpath(abs);
      const loopAt = ancestors.indexOf(real);
      if (loopAt >= 0) {
        throw new Error(`symlink loop in ${this.location}: ${shown(rel)} leads back to ${shown(seen.get(real)!)}, which contains it; remove or fix that link`);
      }
      const first = seen.get(real);
      if (first !== undefined) {
        throw new Error(`${this.location}: ${shown(rel)} and ${shown(first)} are the same folder (${real}) reached through a symlink, so its images would be used twice; link each folder once`);
      }
      seen.set(real, rel);
      if (rel) dirs.push(rel);
      // Sorted, so which of two paths counts as "first" (in messages) is the same on every machine.
      const dirents = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const d of dirents) {
        if (d.name.startsWith('.')) continue; // .DS_Store, editor temp files, our own cache temp files
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) await walk(p, [...ancestors, real]);
        else if (d.isFile()) {
          const s = await stat(join(this.location, p));
          out.push({ path: p, size: s.size, stamp: String(Math.trunc(s.mtimeMs)) });
        } else if (d.isSymbolicLink()) {
          const s = await stat(join(this.location, p)).catch(() => null);
          // A dangling link is listed, so reading it fails and it is reported as an unreadable file.
          if (s === null) out.push({ path: p, size: 0, stamp: 'dangling-link' });
          else if (s.isDirectory()) await walk(p, [...ancestors, real]);
          else if (s.isFile()) out.push({ path: p, size: s.size, stamp: String(Math.trunc(s.mtimeMs)) });
          else out.push({ path: p, size: 0, stamp: 'not-a-file' });
        } else {
          // Devices, FIFOs, sockets: listed like a dangling link, so read() refuses them by kind and they are
          // counted and named as unreadable files instead of silently vanishing (or hanging the reader).
          out.push({ path: p, size: 0, stamp: 'not-a-file' });
        }
      }
    };
    await walk('', []);
    this.dirs = dirs.sort();
    return out.sort(byPath);
  }

  async listDirs(): Promise<string[]> {
    if (this.dirs === undefined) await this.list();
    return this.dirs!;
  }

  async read(path: string): Promise<Uint8Array> {
    return readImageFile(join(this.location, path));
  }

  async head(path: string, n: number): Promise<Uint8Array> {
    const { fh } = await openRegularFile(join(this.location, path), { what: 'image' });
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
