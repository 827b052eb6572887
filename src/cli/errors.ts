/** A user-facing failure: printed as one line without a stack trace. */
export class UsageError extends Error {}

/**
 * EX_TEMPFAIL (sysexits.h): nothing is wrong with the run or study, but it could not finish now (a full disk,
 * runs interrupted); the same command finishes it later. `ablate train` and `ablate study run` agree on it.
 */
export const EXIT_TEMPFAIL = 75;
