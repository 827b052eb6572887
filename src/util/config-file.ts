import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Study and config files are small (a few kB); anything past this is refused before it is parsed. A
 * YAML parser works on the whole text synchronously, so a huge file would hold the process (and its
 * signal handlers) for minutes.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** Why a config file could not be read, with the file named; `code` tells missing from too large. */
export class ConfigFileError extends TypeError {
  constructor(message: string, readonly code: 'missing' | 'too-large' | 'unreadable') {
    super(message);
    this.name = 'ConfigFileError';
  }
}

/** The text of a study or config file, refused when it is larger than MAX_CONFIG_BYTES (checked on the open file, before reading). */
export function readConfigText(file: string, what = 'config file'): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigFileError(`${what} ${file} does not exist`, 'missing');
    throw new ConfigFileError(`cannot read the ${what} ${file}: ${code ?? (e as Error).message}`, 'unreadable');
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ConfigFileError(`Expected a ${what} at ${file} but it is a folder`, 'unreadable');
    if (st.size > MAX_CONFIG_BYTES) {
      throw new ConfigFileError(`Expected a ${what} of at most 1 MB but ${file} has ${(st.size / 1024 / 1024).toFixed(1)} MB: ` +
        'study and config files hold settings, not data; point data fields at the data instead', 'too-large');
    }
    // Read at most one byte past the limit, so a file that grows while being read is refused too.
    const buf = Buffer.alloc(Math.min(st.size, MAX_CONFIG_BYTES) + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got;
    if (n > MAX_CONFIG_BYTES) throw new ConfigFileError(`Expected a ${what} of at most 1 MB but ${file} is larger`, 'too-large');
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
