/** A file in a folder or an archive, named by its POSIX path relative to the store root. */
export interface StoreEntry {
  path: string;
  size: number;
  /** Changes when the content may have changed (mtime for files, CRC-32 for zip members). */
  stamp: string;
}

/** Read-only access to files in a folder, a zip or a tar, so sources never care which. */
export interface ByteStore {
  readonly location: string;
  /** Every regular file, sorted by path (code-point order, identical on every machine). */
  list(): Promise<StoreEntry[]>;
  /** Every folder (empty ones included), sorted; stores that cannot tell leave this out. */
  listDirs?(): Promise<string[]>;
  read(path: string): Promise<Uint8Array>;
  /** The first n bytes (fewer if the file is shorter), without reading the rest. */
  head(path: string, n: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function byPath(a: StoreEntry, b: StoreEntry): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
