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

/** One error factory so every validation message reads the same way. */
export function invalidArg(name: string, expected: string, received: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(received)}`);
}
