import type { FileHandle } from 'node:fs/promises';
import { openRegularFile } from '../../util/regular-file.js';
import { byPath, type ByteStore, type StoreEntry } from './store.js';

interface TarMember {
  offset: number;
  size: number;
  mtime: string;
}

/**
 * Random access into an uncompressed tar (Stanford Dogs ships `images.tar` and `lists.tar`):
 * one pass over the 512-byte headers builds an index, then members are read by position.
 */
export class TarStore implements ByteStore {
  private constructor(
    readonly location: string,
    private readonly fh: FileHandle,
    private readonly members: Map<string, TarMember>,
  ) {}

  static async open(path: string): Promise<TarStore> {
    const { fh, size } = await openRegularFile(path, { what: 'tar archive' });
    try {
      const members = await indexTar(fh, size, path);
      return new TarStore(path, fh, members);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async list(): Promise<StoreEntry[]> {
    return [...this.members].map(([path, m]) => ({ path, size: m.size, stamp: m.mtime })).sort(byPath);
  }

  private member(path: string): TarMember {
    const m = this.members.get(path);
    if (!m) throw new Error(`no member ${JSON.stringify(path)} in ${this.location}`);
    return m;
  }

  async read(path: string): Promise<Uint8Array> {
    const m = this.member(path);
    const buf = Buffer.alloc(m.size);
    await this.fh.read(buf, 0, m.size, m.offset);
    return buf;
  }

  async head(path: string, n: number): Promise<Uint8Array> {
    const m = this.member(path);
    const len = Math.min(n, m.size);
    const buf = Buffer.alloc(len);
    await this.fh.read(buf, 0, len, m.offset);
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function cString(b: Buffer, start: number, len: number): string {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
}

function octal(b: Buffer, start: number, len: number): number {
  const s = cString(b, start, len).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

/** GNU long names and PAX headers hold a path and a few attributes: kilobytes, never more. */
const MAX_TAR_NAME_BYTES = 1 << 20;

async function indexTar(fh: FileHandle, fileSize: number, path: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const header = Buffer.alloc(512);
  let pos = 0;
  let longName: string | null = null;
  while (pos + 512 <= fileSize) {
    await fh.read(header, 0, 512, pos);
    if (header.every((x) => x === 0)) break; // end-of-archive marker
    if (header.toString('latin1', 257, 262) !== 'ustar' && !validChecksum(header)) {
      throw new Error(`${path} is not a tar archive (bad header at byte ${pos})`);
    }
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156]!);
    const dataStart = pos + 512;
    const next = dataStart + Math.ceil(size / 512) * 512;
    // Sizes are checked against the file before anything is allocated for them: a header may declare gigabytes.
    if (!Number.isSafeInteger(size) || size < 0 || dataStart + size > fileSize) {
      throw new Error(`${path} is truncated or damaged: the member at byte ${pos} declares ${cString(header, 124, 12) || '(no)'} (octal) bytes but the file has ${fileSize - dataStart} after its header`);
    }
    if ((type === 'L' || type === 'x') && size > MAX_TAR_NAME_BYTES) {
      throw new Error(`${path} is damaged: the long-name header at byte ${pos} declares ${size} bytes (at most ${MAX_TAR_NAME_BYTES} expected for a file name)`);
    }
    if (type === 'L' || type === 'x') {
      // GNU long name / PAX extended header: the name of the *next* member lives in this data block.
      const data = Buffer.alloc(size);
      await fh.read(data, 0, size, dataStart);
      if (type === 'L') longName = cString(data, 0, size);
      else {
        const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString('utf8'));
        if (m) longName = m[1]!;
      }
    } else {
      const prefix = cString(header, 345, 155);
      let name = longName ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100));
      longName = null;
      name = name.replace(/^(\.\/|\/)+/, '');
      if ((type === '0' || type === '\0') && !name.endsWith('/')) {
        members.set(name, { offset: dataStart, size, mtime: String(octal(header, 136, 12)) });
      }
    }
    pos = next;
  }
  return members;
}

function validChecksum(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === octal(h, 148, 8);
}
