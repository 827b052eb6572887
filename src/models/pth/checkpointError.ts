/** Raised for any file that is not a readable, safe PyTorch checkpoint. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** A few bytes as hex, for messages that say what a file holds where something else was expected. */
export function hexPreview(bytes: Uint8Array, offset = 0, count = 8): string {
  const end = Math.min(bytes.length, offset + count);
  if (end <= offset) return '(no bytes)';
  const hex: string[] = [];
  for (let i = offset; i < end; i++) hex.push(bytes[i]!.toString(16).padStart(2, '0'));
  return hex.join(' ') + (bytes.length > end ? ' …' : '');
}
