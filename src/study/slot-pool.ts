/**
 * The `--parallel` slots of a study runner. A run takes one slot per data-parallel rank, so `--parallel 4`
 * trains four single-process runs at once, or two runs of two ranks. Requests are served in order (a run of
 * many ranks is not overtaken forever by small ones), and a run wanting more slots than exist takes all.
 * The slot numbers a run holds choose its GPUs.
 */
export class SlotPool {
  readonly #free: boolean[];
  readonly #queue: { n: number; grant: (slots: number[]) => void }[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected a positive integer slot count but received ${size}`);
    this.#free = Array.from({ length: size }, () => true);
  }

  /** Waits for `n` slots (at most all of them); resolves to their numbers, lowest first. */
  acquire(n: number): Promise<number[]> {
    const want = Math.max(1, Math.min(n, this.size));
    return new Promise((grant) => {
      this.#queue.push({ n: want, grant });
      this.#serve();
    });
  }

  release(slots: readonly number[]): void {
    for (const s of slots) this.#free[s] = true;
    this.#serve();
  }

  #serve(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const free = this.#free.flatMap((f, i) => (f ? [i] : []));
      if (free.length < head.n) return;
      this.#queue.shift();
      const taken = free.slice(0, head.n);
      for (const s of taken) this.#free[s] = false;
      head.grant(taken);
    }
  }
}
