import { createHash } from 'node:crypto';

/**
 * Small deterministic PRNG (mulberry32). Pure 32-bit integer arithmetic, so a seed yields the same
 * stream on every machine and Node version — shuffles and generated images must be reproducible
 * across processes for resuming a killed run.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mix several integers/strings into one 32-bit seed (via SHA-256, so nearby inputs give unrelated seeds). */
export function seedFrom(...parts: (number | string)[]): number {
  const h = createHash('sha256').update(parts.map(String).join('\u0000')).digest();
  return h.readUInt32LE(0);
}

/** Fisher–Yates permutation of 0..n-1, determined entirely by (seed, epoch). */
export function permutation(n: number, seed: number, epoch: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rand = mulberry32(seedFrom('shuffle', seed, epoch));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/**
 * Canonical order for file-based sources: sort by a hash of each key (tie-broken by the key).
 * Plain sorted order would put every cat before every dog, so `train[:80%]` would be all cats;
 * hashing interleaves classes like TFDS's own shuffled shards, and adding a file does not reorder the rest.
 */
export function hashOrder(keys: readonly string[], salt: string): Int32Array {
  const hashes = keys.map((k) => createHash('sha256').update(salt).update('\u0000').update(k).digest('hex').slice(0, 16));
  const idx = Array.from(keys, (_, i) => i);
  idx.sort((a, b) => (hashes[a]! < hashes[b]! ? -1 : hashes[a]! > hashes[b]! ? 1 : keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  return Int32Array.from(idx);
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}
