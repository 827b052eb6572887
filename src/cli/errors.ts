/** A user-facing failure: printed as one line without a stack trace. */
export class UsageError extends Error {}
