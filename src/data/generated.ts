import { checkIndex, unknownSplit, type DataSource } from './dataset-base.js';
import { mulberry32, permutation, seedFrom, sha256Hex } from './random.js';
import type { Dataset, DatasetItem } from './types.js';

/**
 * A procedural classification task that needs no download. Each class is a combination of
 * (shape, fill texture, object count); everything else — colours, size, rotation, position,
 * background gradient and stripes, outlined distractor shapes of every kind, pixel noise — varies
 * at random. Colour and brightness carry no label information, so a model has to learn shape
 * (and, beyond 6 classes, texture and count) under rotation and clutter: a rule several conv
 * layers deep, which is where depth — and therefore residual connections — starts to matter.
 */
export const SHAPES = ['triangle', 'square', 'cross', 'disk', 'ring', 'star'] as const;
export const TEXTURES = ['solid', 'stripes', 'checker', 'dots'] as const;
export const MAX_COUNT = 3;
export const MAX_GENERATED_CLASSES = SHAPES.length * TEXTURES.length * MAX_COUNT;

export type Difficulty = 'easy' | 'medium' | 'hard';

export interface GeneratedOptions {
  /** Images in the `train` split. */
  trainCount: number;
  /** Images in the `test` split (drawn from an independent stream). */
  testCount: number;
  classes: number;
  /** Side length in pixels of the square images. */
  size: number;
  seed: number;
  difficulty: Difficulty;
}

export const DEFAULT_GENERATED: GeneratedOptions = { trainCount: 5000, testCount: 1000, classes: 4, size: 32, seed: 0, difficulty: 'medium' };

interface ClassRule {
  shape: number;
  texture: number | null; // null: texture is a nuisance variable
  count: number;
}

export function classRule(k: number, classes: number): ClassRule {
  const shape = k % SHAPES.length;
  const texture = classes > SHAPES.length ? Math.floor(k / SHAPES.length) % TEXTURES.length : null;
  const count = 1 + Math.floor(k / (SHAPES.length * TEXTURES.length));
  return { shape, texture, count };
}

/** The class names of the generated dataset with this many classes. */
export function generatedClassNames(classes: number): string[] {
  return Array.from({ length: classes }, (_, k) => {
    const r = classRule(k, classes);
    return [r.count > 1 ? `${r.count}x` : '', SHAPES[r.shape], r.texture === null ? '' : `-${TEXTURES[r.texture]}`].join('');
  });
}

// Shapes as polygons or implicit tests in object coordinates (unit radius, centred, v up).
const POLY: Record<string, [number, number][]> = {
  triangle: [[0, 1], [-0.866, -0.5], [0.866, -0.5]],
  square: [[-0.72, -0.72], [0.72, -0.72], [0.72, 0.72], [-0.72, 0.72]],
  star: Array.from({ length: 10 }, (_, k) => {
    const r = k % 2 === 0 ? 1 : 0.42;
    const a = Math.PI / 2 + (k * Math.PI) / 5;
    return [r * Math.cos(a), r * Math.sin(a)] as [number, number];
  }),
};

function inPoly(poly: [number, number][], u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function insideShape(shape: number, u: number, v: number): boolean {
  switch (SHAPES[shape]) {
    case 'disk': return u * u + v * v <= 0.8;
    case 'ring': { const r2 = u * u + v * v; return r2 <= 0.9 && r2 >= 0.3; }
    case 'cross': return (Math.abs(u) <= 0.3 && Math.abs(v) <= 0.92) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 0.92);
    default: return inPoly(POLY[SHAPES[shape]!]!, u, v);
  }
}

function textureBit(texture: number, u: number, v: number, freq: number, angle: number): boolean {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const a = (u * c + v * s) * freq;
  const b = (-u * s + v * c) * freq;
  switch (TEXTURES[texture]) {
    case 'stripes': return a - Math.floor(a) < 0.5;
    case 'checker': return (Math.floor(a) + Math.floor(b)) % 2 === 0;
    case 'dots': { const da = a - Math.floor(a) - 0.5; const db = b - Math.floor(b) - 0.5; return da * da + db * db < 0.09; }
    default: return true;
  }
}

type Rgb = [number, number, number];

function hsv(h: number, s: number, v: number): Rgb {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  const table: Rgb[] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]];
  return table[i % 6]!.map((x) => x * 255) as Rgb;
}
const luma = (c: Rgb): number => (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255;

const LEVELS: Record<Difficulty, { distractors: [number, number]; noise: number; bgContrast: number; scale: [number, number]; minContrast: number }> = {
  easy: { distractors: [0, 0], noise: 6, bgContrast: 0, scale: [0.3, 0.42], minContrast: 0.3 },
  medium: { distractors: [1, 2], noise: 18, bgContrast: 0.12, scale: [0.22, 0.4], minContrast: 0.2 },
  hard: { distractors: [2, 3], noise: 28, bgContrast: 0.22, scale: [0.18, 0.36], minContrast: 0.14 },
};

/** Render item (split, index) — a pure function of its arguments, so any item can be made on demand. */
export function renderGenerated(opts: GeneratedOptions, split: string, index: number, label: number): Uint8Array {
  const n = opts.size;
  const L = LEVELS[opts.difficulty];
  const rand = mulberry32(seedFrom('generated-image', opts.seed, split, index));
  const uni = (a: number, b: number): number => a + (b - a) * rand();
  const int = (a: number, b: number): number => Math.floor(uni(a, b + 1));
  const img = new Float32Array(n * n * 3);

  const bgA = hsv(rand(), uni(0, 0.8), uni(0.15, 0.95));
  const bgB = hsv(rand(), uni(0, 0.8), uni(0.15, 0.95));
  const gAngle = uni(0, 2 * Math.PI);
  const sAngle = uni(0, Math.PI);
  const sFreq = uni(0.08, 0.35);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const t = 0.5 + (((x / n - 0.5) * Math.cos(gAngle) + (y / n - 0.5) * Math.sin(gAngle)) * 0.9);
      const stripe = Math.sin((x * Math.cos(sAngle) + y * Math.sin(sAngle)) * sFreq * 2 * Math.PI) * L.bgContrast * 255;
      for (let c = 0; c < 3; c++) img[(y * n + x) * 3 + c] = bgA[c]! * (1 - t) + bgB[c]! * t + stripe;
    }
  }
  const bgLuma = (luma(bgA) + luma(bgB)) / 2;
  const contrasting = (): Rgb => {
    for (let k = 0; ; k++) {
      const c = hsv(rand(), uni(0.2, 1), uni(0.1, 1));
      if (Math.abs(luma(c) - bgLuma) >= L.minContrast || k > 20) return c;
    }
  };

  // Supersampled (2x2) coverage so edges are anti-aliased: hard pixel steps would be a shortcut feature.
  const draw = (shape: number, cx: number, cy: number, radius: number, rot: number, fill: (u: number, v: number) => Rgb | null): void => {
    const cs = Math.cos(rot);
    const sn = Math.sin(rot);
    const x0 = Math.max(0, Math.floor(cx - radius - 1));
    const x1 = Math.min(n - 1, Math.ceil(cx + radius + 1));
    const y0 = Math.max(0, Math.floor(cy - radius - 1));
    const y1 = Math.min(n - 1, Math.ceil(cy + radius + 1));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const acc = [0, 0, 0];
        let hits = 0;
        for (const [ox, oy] of [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]] as const) {
          const dx = (x + ox - cx) / radius;
          const dy = -(y + oy - cy) / radius;
          const u = dx * cs + dy * sn;
          const v = -dx * sn + dy * cs;
          if (!insideShape(shape, u, v)) continue;
          const col = fill(u, v);
          if (!col) continue;
          hits++;
          for (let c = 0; c < 3; c++) acc[c] += col[c]!;
        }
        if (hits === 0) continue;
        const a = hits / 4;
        const p = (y * n + x) * 3;
        for (let c = 0; c < 3; c++) img[p + c] = img[p + c]! * (1 - a) + (acc[c]! / hits) * a;
      }
    }
  };

  const rule = classRule(label, opts.classes);
  const objects = () => {
    const radius = uni(L.scale[0], L.scale[1]) * n / Math.sqrt(rule.count);
    return { radius, cx: uni(radius, n - radius), cy: uni(radius, n - radius), rot: uni(0, 2 * Math.PI) };
  };

  const nd = int(L.distractors[0], L.distractors[1]);
  const distractors = Array.from({ length: nd }, () => ({ shape: int(0, SHAPES.length - 1), r: uni(0.12, 0.3) * n, cx: uni(0, n), cy: uni(0, n), rot: uni(0, 7), col: contrasting(), onTop: rand() < 0.3 }));
  const drawDistractor = (d: (typeof distractors)[number]): void => {
    const inner = 1 - Math.min(0.45, 1.3 / d.r); // outline about 1.3 px wide
    draw(d.shape, d.cx, d.cy, d.r, d.rot, (u, v) => (insideShape(d.shape, u / inner, v / inner) ? null : d.col));
  };
  for (const d of distractors) if (!d.onTop) drawDistractor(d);

  for (let k = 0; k < rule.count; k++) {
    const o = objects();
    const texture = rule.texture ?? int(0, TEXTURES.length - 1);
    const colA = contrasting();
    const colB = contrasting();
    const freq = uni(1.6, 2.6);
    const angle = uni(0, Math.PI);
    draw(rule.shape, o.cx, o.cy, o.radius, o.rot, (u, v) => (textureBit(texture, u, v, freq, angle) ? colA : colB));
  }
  for (const d of distractors) if (d.onTop) drawDistractor(d);

  const out = new Uint8Array(n * n * 3);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(img[i]! + (rand() * 2 - 1) * L.noise)));
  return out;
}

class GeneratedSplit implements Dataset {
  readonly source = 'generated' as const;
  readonly length: number;
  readonly classNames: readonly string[];
  readonly fingerprint: string;
  readonly excluded = [];
  private readonly labelCache: Int32Array;
  constructor(
    private readonly opts: GeneratedOptions,
    private readonly split: string,
    count: number,
    readonly description: string,
  ) {
    this.length = count;
    this.classNames = generatedClassNames(opts.classes);
    this.fingerprint = sha256Hex(JSON.stringify({ generator: 1, split, ...opts }));
    this.labelCache = new Int32Array(count);
    for (let b = 0; b * opts.classes < count; b++) {
      const perm = permutation(opts.classes, seedFrom('generated-labels', opts.seed, split), b);
      for (let j = 0; j < opts.classes && b * opts.classes + j < count; j++) this.labelCache[b * opts.classes + j] = perm[j]!;
    }
  }
  label(i: number): number {
    checkIndex(i, this.length);
    return this.labelCache[i]!;
  }
  labels(): Int32Array {
    return this.labelCache.slice();
  }
  itemName(i: number): string {
    checkIndex(i, this.length);
    return `generated/${this.split}#${i}`;
  }
  async read(i: number): Promise<DatasetItem> {
    checkIndex(i, this.length);
    return { kind: 'raw', pixels: renderGenerated(this.opts, this.split, i, this.labelCache[i]!), height: this.opts.size, width: this.opts.size };
  }
  async close(): Promise<void> {}
}

export function openGenerated(opts: GeneratedOptions): DataSource {
  if (!Number.isInteger(opts.classes) || opts.classes < 2 || opts.classes > MAX_GENERATED_CLASSES) {
    throw new TypeError(`Expected an integer from 2 to ${MAX_GENERATED_CLASSES} for generated.classes but received ${opts.classes}`);
  }
  const desc = (split: string, count: number): string => `generated (${split}: ${count} images, ${opts.classes} classes, ${opts.size}px, ${opts.difficulty}, seed ${opts.seed})`;
  const splits = new Map<string, Dataset>([
    ['train', new GeneratedSplit(opts, 'train', opts.trainCount, desc('train', opts.trainCount))],
    ['test', new GeneratedSplit(opts, 'test', opts.testCount, desc('test', opts.testCount))],
  ]);
  return {
    source: 'generated',
    location: 'generated',
    splitNames: ['train', 'test'],
    split(name: string): Dataset {
      const d = splits.get(name);
      if (!d) throw unknownSplit(name, ['train', 'test'], 'the generated dataset');
      return d;
    },
    close: async () => {},
  };
}
