/** Describe a received value compactly for "expected X but received Y" messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `array of length ${value.length}${value.length <= 8 ? ' ' + JSON.stringify(value) : ''}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `${name} instance` : 'object';
}

/** One problem in what a user gave: where (a field's dotted path, an argument), what was expected, what was received. */
export interface Issue {
  path: string;
  expected: string;
  received: string;
}

/**
 * A problem with what was given (a config field, an argument), not a bug. `issues` carry its parts, so a caller
 * that reports it under its own path (a config's `data.split`) reads them instead of parsing the message.
 * A TypeError, as these errors always were.
 */
export class ConfigError extends TypeError {
  constructor(message: string, readonly issues: readonly Issue[] = []) {
    super(message);
  }
}

/** One error factory so every validation message reads the same way. */
export function invalidArg(name: string, expected: string, received: unknown): ConfigError {
  const issue = { path: name, expected, received: describe(received) };
  return new ConfigError(`Expected ${expected} for ${name} but received ${issue.received}`, [issue]);
}
