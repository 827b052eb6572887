/** Number and name formatting shared by the Markdown, HTML and status renderers. */

export const DASH = '—';

/** Accuracy fraction → percent with one decimal (`0.8734` → `87.3`). */
export function pct(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? DASH : (100 * x).toFixed(digits);
}

/** A difference in accuracy fraction → signed percentage points (`+4.1`, `−0.3`). */
export function points(x: number, digits = 1): string {
  const s = (100 * x).toFixed(digits);
  return x >= 0 ? `+${s}` : `\u2212${s.slice(1)}`;
}

export function unsignedPoints(x: number, digits = 1): string {
  return (100 * Math.abs(x)).toFixed(digits);
}

/** `mean ± std` in percent, or just the mean for one value. */
export function pctMeanStd(m: number | undefined, s: number | undefined, n: number): string {
  if (m === undefined || !Number.isFinite(m)) return DASH;
  return n >= 2 && s !== undefined && Number.isFinite(s) ? `${pct(m)} ± ${pct(s)}` : pct(m);
}

export function num(x: number | undefined, digits = 3): string {
  if (x === undefined) return DASH;
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  return x.toFixed(digits);
}

export function numMeanStd(m: number | undefined, s: number | undefined, n: number, digits = 3): string {
  if (m === undefined) return DASH;
  return n >= 2 && s !== undefined && Number.isFinite(s) ? `${num(m, digits)} ± ${num(s, digits)}` : num(m, digits);
}

/** Whole-number quantities such as an epoch: `8` when every seed agrees (not `8.0 ± 0.0`), else `7.5 ± 0.7`. */
export function countMeanStd(m: number | undefined, s: number | undefined, n: number): string {
  if (m === undefined || !Number.isFinite(m)) return DASH;
  if (n < 2 || s === undefined || !Number.isFinite(s) || s === 0) return Number.isInteger(m) ? String(m) : m.toFixed(1);
  return `${m.toFixed(1)} ± ${s.toFixed(1)}`;
}

/** 21_797_672 → `21.80M`; 3_670_000_000 → `3.67G`. */
export function si(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return DASH;
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [v, u] of units) if (Math.abs(x) >= v) return `${(x / v).toFixed(2)}${u}`;
  return String(Math.round(x));
}

/** Seconds → `45.2 s`, `12 m 04 s`, `3 h 07 m`. */
export function duration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return DASH;
  // Rounded before it is split, so 119.6 s reads `2 m 00 s`, never `1 m 60 s`.
  if (s < 59.95) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m} m ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

export function rate(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return DASH;
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/** `resnet34-cutmix` → `ResNet-34-cutmix`, `plain50` → `Plain-50`: how the paper and the course write them. */
export function prettyName(name: string): string {
  return name.split('-').map((seg) => {
    const m = /^(resnet|plain|preact)(\d+)$/i.exec(seg);
    if (!m) return seg;
    const family = { resnet: 'ResNet', plain: 'Plain', preact: 'PreAct' }[m[1].toLowerCase()]!;
    return `${family}-${m[2]}`;
  }).join('-');
}

export function isoDate(s: string | undefined): string {
  if (!s) return DASH;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
