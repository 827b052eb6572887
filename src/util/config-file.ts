import { closeSync, readSync } from 'node:fs';
import { FileReadError, openRegularFileSync } from './regular-file.js';
import { LineCounter, isScalar, parseDocument, visit } from 'yaml';

/**
 * Study and config files are small (a few kB); anything past this is refused before it is parsed. A
 * YAML parser works on the whole text synchronously, so a huge file would hold the process (and its
 * signal handlers) for minutes.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Parsing time grows with the number of entries more than with bytes: 60k one-line keys take seconds. */
export const MAX_CONFIG_LINES = 20_000;

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
  let size: number;
  try {
    // A regular file only: a FIFO would block this synchronous read forever, /dev/zero would never end.
    ({ fd, size } = openRegularFileSync(file, { what }));
  } catch (e) {
    if (!(e instanceof FileReadError)) throw e;
    throw new ConfigFileError(e.message, e.code === 'missing' ? 'missing' : 'unreadable');
  }
  try {
    const st = { size };
    if (st.size > MAX_CONFIG_BYTES) {
      throw new ConfigFileError(`Expected a ${what} of at most 1 MB but ${file} has ${(st.size / 1024 / 1024).toFixed(1)} MB: ` +
        'study and config files hold settings, not data; point data fields at the data instead', 'too-large');
    }
    // Read at most one byte past the limit, so a file that grows while being read is refused too.
    const buf = Buffer.alloc(Math.min(st.size, MAX_CONFIG_BYTES) + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += got;
    if (n > MAX_CONFIG_BYTES) throw new ConfigFileError(`Expected a ${what} of at most 1 MB but ${file} is larger`, 'too-large');
    const text = buf.subarray(0, n).toString('utf8');
    let lines = 1;
    for (let i = text.indexOf('\n'); i !== -1 && lines <= MAX_CONFIG_LINES; i = text.indexOf('\n', i + 1)) lines++;
    if (lines > MAX_CONFIG_LINES) {
      throw new ConfigFileError(`Expected a ${what} of at most ${MAX_CONFIG_LINES.toLocaleString('en')} lines but ${file} has more: ` +
        'study and config files hold settings, not data', 'too-large');
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

export interface YamlProblem {
  line?: number;
  col?: number;
  message: string;
}

/**
 * Parse YAML text, with duplicate keys reported as errors. The yaml package's own duplicate check
 * compares every key with every other (minutes for a mapping of 60k keys); this one is a set per mapping.
 */
export function parseYamlText(text: string): { value?: unknown; errors: YamlProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const errors: YamlProblem[] = doc.errors.map((e) => ({
    ...(e.linePos ? { line: e.linePos[0].line, col: e.linePos[0].col } : {}),
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
  }));
  if (errors.length > 0) return { errors };
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (seen.has(key)) errors.push({ ...at(pair.key.range?.[0]), message: `Map keys must be unique ("${key}" appears twice)` });
        seen.add(key);
      }
    },
  });
  if (errors.length > 0) return { errors };
  try {
    return { value: doc.toJS(), errors };
  } catch (e) {
    return { errors: [{ message: (e as Error).message.split('\n')[0]! }] }; // e.g. too many alias expansions
  }
}
