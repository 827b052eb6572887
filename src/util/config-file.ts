import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CST, Lexer, LineCounter, isScalar, parseDocument, visit } from 'yaml';

/**
 * Study and config files are small (a few kB); anything past this is refused before it is parsed. A
 * YAML parser works on the whole text synchronously, so a huge file would hold the process (and its
 * signal handlers) for minutes.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Parsing time grows with the number of entries more than with bytes: 60k one-line keys take seconds. */
export const MAX_CONFIG_LINES = 20_000;

/**
 * Settings nest a few levels (base → optimizer → lr); the YAML parser recurses once per level, so a file
 * nested thousands deep costs seconds and hundreds of MB before it fails. Deeper files are refused first.
 */
export const MAX_CONFIG_DEPTH = 64;

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
  /** What was expected there, when more precise than "valid YAML". */
  expected?: string;
}

function tooDeep(line: number, col: number, limit: number): Required<YamlProblem> {
  return {
    line, col,
    expected: `settings nested at most ${limit} levels deep`,
    message: `more than ${limit} levels of nested lists or mappings: study and config files hold settings, not data`,
  };
}

/**
 * Where YAML text nests deeper than `limit` (block and flow collections together), or undefined: one pass of
 * the yaml package's lexer (linear, no tree), stopped at the first place past the limit. Block collections
 * are tracked by the columns of their indicators (`-`, `?`, a key's start), as the parser nests them.
 */
export function yamlTooDeep(text: string, limit = MAX_CONFIG_DEPTH): Required<YamlProblem> | undefined {
  const block: number[] = [];
  let flow = 0;
  let line = 1;
  let col = 0;
  let lineStart = true; // no content token on this line yet
  let lineStartCol = 0; // the column of this line's first content token
  let keyCol = -1; // where the scalar that may be a mapping key started
  let content = false; // the previous token was the lexer's scalar marker: this one is scalar text
  const open = (c: number, first: boolean): boolean => {
    if (first) while (block.length > 0 && block[block.length - 1]! > c) block.pop();
    if (block.length === 0 || block[block.length - 1]! < c) block.push(c);
    return block.length + flow > limit;
  };
  const advance = (tok: string) => {
    const nl = tok.lastIndexOf('\n');
    if (nl < 0) col += tok.length;
    else {
      for (let i = tok.indexOf('\n'); i !== -1; i = tok.indexOf('\n', i + 1)) line++;
      col = tok.length - nl - 1;
    }
  };
  for (const tok of new Lexer().lex(text)) {
    if (tok === CST.SCALAR) { content = true; continue; }
    if (tok === CST.DOCUMENT || tok === CST.FLOW_END || tok === CST.BOM) continue;
    const type = content ? 'scalar-text' : CST.tokenType(tok);
    content = false;
    const at = col;
    switch (type) {
      case 'newline':
        line++; col = 0; lineStart = true; keyCol = -1;
        continue;
      case 'space': case 'comment':
        advance(tok);
        continue;
      case 'doc-start':
        block.length = 0; flow = 0;
        break;
      case 'seq-item-ind': case 'explicit-key-ind':
        if (flow === 0 && open(at, lineStart)) return tooDeep(line, at + 1, limit);
        keyCol = -1;
        break;
      case 'map-value-ind':
        if (flow === 0 && keyCol >= 0 && open(keyCol, keyCol === lineStartCol)) return tooDeep(line, keyCol + 1, limit);
        keyCol = -1;
        break;
      case 'flow-map-start': case 'flow-seq-start':
        if (++flow + block.length > limit) return tooDeep(line, at + 1, limit);
        break;
      case 'flow-map-end': case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      default:
        if (keyCol < 0) keyCol = at;
    }
    if (lineStart) lineStartCol = at;
    lineStart = false;
    advance(tok);
  }
  return undefined;
}

/** Where JSON text nests deeper than `limit`, or undefined (strings skipped; the parser reports other errors). */
export function jsonTooDeep(text: string, limit = MAX_CONFIG_DEPTH): Required<YamlProblem> | undefined {
  let depth = 0;
  let line = 1;
  let lineAt = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* backslash */) i++;
    } else if (c === 0x5b || c === 0x7b /* [ { */) {
      if (++depth > limit) return tooDeep(line, i - lineAt + 1, limit);
    } else if (c === 0x5d || c === 0x7d /* ] } */) {
      depth--;
    } else if (c === 0x0a) {
      line++;
      lineAt = i + 1;
    }
  }
  return undefined;
}

/**
 * Parse YAML text, with duplicate keys reported as errors. The yaml package's own duplicate check
 * compares every key with every other (minutes for a mapping of 60k keys); this one is a set per mapping.
 */
export function parseYamlText(text: string): { value?: unknown; errors: YamlProblem[] } {
  const deep = yamlTooDeep(text);
  if (deep) return { errors: [deep] };
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
