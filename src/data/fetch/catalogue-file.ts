import { readRegularTextSync } from '../../util/regular-file.js';
import { z } from 'zod';

/**
 * `ABLATE_CATALOGUE=<file.json>`: extra or replacement catalogue entries, for datasets and weights
 * ablate does not ship (a lab's own archive, a pinned re-upload) and for tests, which serve fixture
 * files and must register their checksums. Entries replace built-in ones of the same name.
 */
const hex = (n?: number) => z.string().regex(n ? new RegExp(`^[0-9a-f]{${n}}$`) : /^[0-9a-f]{6,64}$/, n ? `a ${n}-digit lower-case hex SHA-256` : 'lower-case hex digits');

export const RemoteFileSchema = z.strictObject({
  name: z.string().regex(/^[^/\\]+$/, 'a file name without folders'),
  url: z.url(),
  manualUrl: z.string().optional(),
  size: z.number().int().min(0).optional(),
  /** Without an exact size: the most bytes it may have (default ABLATE_FETCH_MAX_BYTES). */
  maxBytes: z.number().int().min(1).optional(),
  sha256: hex(64).optional(),
  sha256Prefix: hex().optional(),
});

export const DatasetEntrySchema = z.strictObject({
  source: z.enum(['cats_vs_dogs', 'stanford_dogs', 'cifar10', 'cifar100']),
  title: z.string().default(''),
  homepage: z.string().optional(),
  open: z.enum(['file', 'folder', 'extract']),
  extracted: z.string().optional(),
  files: z.array(RemoteFileSchema).min(1),
});

export const WeightsEntrySchema = z.strictObject({
  url: z.url(),
  /** Defaults to the URL's last path segment, as torch.hub names its cache files. */
  name: z.string().optional(),
  sha256: hex(64).optional(),
  /** Exact size in bytes; without it the download is capped by the architecture's parameter count. */
  size: z.number().int().min(0).optional(),
  mean: z.tuple([z.number(), z.number(), z.number()]).optional(),
  std: z.tuple([z.number(), z.number(), z.number()]).optional(),
  /** The weights' evaluation preprocessing (torchvision's `weights.transforms()`); default 256 / 224 / bilinear. */
  resizeSize: z.number().int().positive().optional(),
  cropSize: z.number().int().positive().optional(),
  interpolation: z.enum(['bilinear', 'bicubic', 'nearest']).optional(),
});

export const CatalogueFileSchema = z.strictObject({
  datasets: z.record(z.string(), DatasetEntrySchema).default({}),
  /** torchvision architecture (resnet50, vgg16_bn, ...) → weight name (IMAGENET1K_V1, ...) → file. */
  weights: z.record(z.string(), z.record(z.string(), WeightsEntrySchema)).default({}),
  /** architecture → which weight name `pretrained: imagenet` means. */
  best: z.record(z.string(), z.string()).default({}),
});

export type CatalogueFile = z.output<typeof CatalogueFileSchema>;

const EMPTY: CatalogueFile = { datasets: {}, weights: {}, best: {} };

/** The extra catalogue named by ABLATE_CATALOGUE, validated; empty when unset. */
export function readCatalogueFile(env: Record<string, string | undefined> = process.env): CatalogueFile {
  const path = env.ABLATE_CATALOGUE;
  if (!path) return EMPTY;
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularTextSync(path, { what: 'catalogue (ABLATE_CATALOGUE)' }));
  } catch (e) {
    throw new TypeError(`Expected ABLATE_CATALOGUE to name a readable JSON file but ${path} gave: ${(e as Error).message}`);
  }
  const r = CatalogueFileSchema.safeParse(raw);
  if (!r.success) {
    throw new TypeError(`Invalid catalogue ${path}:\n  ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('\n  ')}`);
  }
  return r.data;
}
