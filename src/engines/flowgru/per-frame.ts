/**
 * Per-frame (static) estimates for the flowgru engine: the `x_t` of GRFP, one probability map per
 * frame, independent of the propagation. Probabilities, planar C x H x W (masks: K+1 channels,
 * background first; labels: C classes).
 */
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../../errors.js';
import { readLabelPng } from '../../formats/png.js';
import { naturalSort } from '../../util/natural-sort.js';
import type { RgbFrame } from '../../video/types.js';
import type { PropertyMap } from '../types.js';

/** The engine's per-frame predictor: frame index and decoded frame → probabilities. */
export type PerFrameFn = (index: number, frame: RgbFrame) => Promise<PropertyMap>;

export interface FolderPerFrameOptions {
  /**
   * Probability given to the labelled class (the rest is spread evenly over the other channels).
   * Default 0.9: a hard one-hot map would tell the cell the static predictor is never wrong.
   */
  readonly confidence?: number;
  /** Grey PNGs: 'binary' (any non-zero = 1, DAVIS-2016) or 'values' (raw value = id). Default 'values'. */
  readonly grayscale?: 'binary' | 'values';
}

/**
 * Per-frame estimates read from a folder of label PNGs (palette index or grey value = class or
 * object id), one per frame. File ↔ frame: the number in the file name when every name has one
 * (`00012.png` → frame 12), else the naturally sorted position. Ids ≥ `channels` are an error.
 */
export async function perFrameFromFolder(dir: string, channels: number, opts: FolderPerFrameOptions = {}): Promise<PerFrameFn> {
  if (!Number.isInteger(channels) || channels < 2)
    throw new RangeError(`perFrameFromFolder: channels must be an integer >= 2, got ${channels}`);
  const conf = opts.confidence ?? 0.9;
  if (!(conf > 0 && conf <= 1)) throw new RangeError(`perFrameFromFolder: confidence must be in (0, 1], got ${conf}`);
  let names: string[];
  try {
    names = naturalSort((await readdir(dir)).filter((n) => extname(n).toLowerCase() === '.png' && !n.startsWith('.')));
  } catch (err) {
    throw new InputError(dir, `cannot list per-frame estimates (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (names.length === 0) throw new InputError(dir, 'contains no PNG per-frame estimates');
  const numbers = names.map((n) => /(\d+)$/.exec(basename(n, extname(n)))?.[1]);
  const byIndex = new Map<number, string>();
  if (numbers.every((v) => v !== undefined) && new Set(numbers.map(Number)).size === names.length) {
    for (let i = 0; i < names.length; i++) byIndex.set(Number(numbers[i]), join(dir, names[i]));
  } else {
    for (let i = 0; i < names.length; i++) byIndex.set(i, join(dir, names[i]));
  }
  const rest = channels > 1 ? (1 - conf) / (channels - 1) : 0;
  return async (index: number, frame: RgbFrame): Promise<PropertyMap> => {
    const file = byIndex.get(index);
    if (!file) throw new InputError(dir, `no per-frame estimate for frame ${index}`);
    const labels = await readLabelPng(file, { grayscale: opts.grayscale ?? 'values' });
    if (labels.width !== frame.width || labels.height !== frame.height) {
      // The engine resizes maps of another size; only reject a different aspect ratio.
      if (Math.abs(labels.width / labels.height - frame.width / frame.height) > 0.02) {
        throw new InputError(file, `estimate is ${labels.width}x${labels.height} but the frame is ${frame.width}x${frame.height}`);
      }
    }
    const n = labels.width * labels.height;
    const data = new Float32Array(channels * n).fill(rest);
    for (let i = 0; i < n; i++) {
      const k = labels.data[i];
      if (k >= channels) {
        throw new InputError(
          file,
          `label ${k} at pixel ${i} is not below the ${channels} channels (flowgru: set the perFrameChannels option to the class count)`,
        );
      }
      data[k * n + i] = conf;
    }
    return { width: labels.width, height: labels.height, channels, data };
  };
}
