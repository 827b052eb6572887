// The words every collective adds when another rank of a data-parallel run died or cannot be reached (the
// native collectives in native/src/dist_ops.cc say the same). Apart from distributed.ts so that code which
// must not load libtorch (a launcher deciding which rank's error speaks for a run) can recognise them.

export const PEER_HINT =
  '. Where another rank stopped or cannot be reached, every rank of a data-parallel run must be restarted; ' +
  'they resume together from the last checkpoint.';

/** True for an error that only says another rank is gone: a consequence of that rank's end, never its cause. */
export function isPeerLost(message: string | undefined): boolean {
  return message?.includes('every rank of a data-parallel run must be restarted') ?? false;
}
