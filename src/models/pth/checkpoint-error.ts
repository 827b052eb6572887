/** Raised for any file that is not a readable, safe PyTorch checkpoint. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  /** The problem without the file's name (callers that name the file themselves use this). */
  readonly detail: string;
  constructor(detail: string, readonly file?: string) {
    super(file === undefined ? detail : `checkpoint ${file}: ${detail}`);
    this.detail = detail;
  }
}

/** Any failure while parsing the checkpoint `file`, as a CheckpointError that names it. */
export function checkpointErrorIn(file: string, err: unknown): CheckpointError {
  if (err instanceof CheckpointError) return err.file !== undefined ? err : new CheckpointError(err.detail, file);
  // Anything else is a reader bug or an exhausted engine limit; the file is still what to look at.
  return new CheckpointError(`cannot be read as a checkpoint: ${(err as Error).message}`, file);
}

/** A few bytes as hex, for messages that say what a file holds where something else was expected. */
export function hexPreview(bytes: Uint8Array, offset = 0, count = 8): string {
  const end = Math.min(bytes.length, offset + count);
  if (end <= offset) return '(no bytes)';
  const hex: string[] = [];
  for (let i = offset; i < end; i++) hex.push(bytes[i]!.toString(16).padStart(2, '0'));
  return hex.join(' ') + (bytes.length > end ? ' …' : '');
}
