/**
 * Per-frame (static) estimates for the flowgru engine: the `x_t` of GRFP, one probability map per
 * frame, independent of the propagation. Probabilities, planar C x H x W (masks: K+1 channels,
 * background first; labels: C classes).
 *
 * Files accepted in a per-frame folder, one per frame:
 * - `.png` label maps (palette index or grey value = class / object id), made soft with
 *   `confidence`;
 * - `.npy` (NumPy, `np.save`): shape (C, H, W) probabilities or scores, or (H, W) integer label
 *   maps. Floating-point (C, H, W) arrays are probabilities when every value is in [0, 1] and
 *   every pixel sums to 1 (±0.01, float16 rounding), else unnormalised scores (logits) to which a
 *   softmax is applied (`values` forces either reading); uint8 arrays are probabilities x 255.
 *   `vprop propagate --probabilities` writes this layout, so one engine's output can feed another.
 */
import { readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../../core/errors.js';
import type { OptionSchema } from '../../core/options.js';
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import { type NpyArray, readNpy } from '../../formats/npy.js';
import { readLabelPng } from '../../formats/png.js';
import { softmaxChannels } from '../../models/tensor.js';
import { channelLookup } from '../../tasks/mask/index.js';
import type { ChannelLayout } from '../../tasks/types.js';
import { naturalSort } from '../../util/natural-sort.js';

/**
 * The engine's per-frame predictor: frame index and decoded frame → probabilities. `layout` is the
 * session's channel layout (masks: which object id each channel is), for predictors that produce
 * ids rather than channels.
 */
/** Option schema entries of the engines that take per-frame estimates (flowgru; vpn models that fuse them). */
export const PER_FRAME_OPTIONS: OptionSchema = {
  perFrame: {
    type: 'value',
    accepts: 'a function (index, frame, layout) => Promise<PropertyMap>',
    check: (v) => typeof v === 'function',
    description: 'the per-frame estimates',
  },
  perFrameDir: { type: 'string', description: 'folder of per-frame estimates: label PNGs or .npy (C,H,W) probabilities / scores' },
  perFrameValues: {
    type: 'enum',
    values: ['auto', 'probabilities', 'logits'],
    default: 'auto',
    description: 'how floating-point .npy maps are read',
  },
};

export type PerFrameFn = (index: number, frame: RgbFrame, layout?: ChannelLayout) => Promise<PropertyMap>;

export interface FolderPerFrameOptions {
  /**
   * Probability given to the labelled class (the rest is spread evenly over the other channels).
   * Default 0.9: a hard one-hot map would tell the cell the static predictor is never wrong.
   */
  readonly confidence?: number;
  /** Grey PNGs: 'binary' (any non-zero = 1, DAVIS-2016) or 'values' (raw value = id). Default 'values'. */
  readonly grayscale?: 'binary' | 'values';
  /** Floating-point `.npy` maps: 'auto' (default; see the module comment), 'probabilities' or 'logits'. */
  readonly values?: 'auto' | 'probabilities' | 'logits';
}

const EXTENSIONS = new Set(['.png', '.npy']);

/**
 * Per-frame estimates read from a folder of label PNGs (palette index or grey value = class or
 * object id), one per frame. File ↔ frame: the number in the file name when every name has one
 * (`00012.png` → frame 12), else the naturally sorted position. Label maps get `channels`
 * channels, or the layout's when it has more; with a mask layout, object ids map to their
 * channels; an id without a channel is an error.
 */
export async function perFrameFromFolder(dir: string, channels = 2, opts: FolderPerFrameOptions = {}): Promise<PerFrameFn> {
  if (!Number.isInteger(channels) || channels < 2)
    throw new RangeError(`perFrameFromFolder: channels must be an integer >= 2, got ${channels}`);
  const conf = opts.confidence ?? 0.9;
  if (!(conf > 0 && conf <= 1)) throw new RangeError(`perFrameFromFolder: confidence must be in (0, 1], got ${conf}`);
  let names: string[];
  try {
    names = naturalSort((await readdir(dir)).filter((n) => EXTENSIONS.has(extname(n).toLowerCase()) && !n.startsWith('.')));
  } catch (err) {
    throw new InputError(dir, `cannot list per-frame estimates (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (names.length === 0) throw new InputError(dir, 'contains no per-frame estimates (.png label maps or .npy arrays)');
  const valuesMode = opts.values ?? 'auto';
  if (!['auto', 'probabilities', 'logits'].includes(valuesMode))
    throw new RangeError(`perFrameFromFolder: values must be auto, probabilities or logits, got ${String(valuesMode)}`);
  const numbers = names.map((n) => /(\d+)$/.exec(basename(n, extname(n)))?.[1]);
  const byIndex = new Map<number, string>();
  if (numbers.every((v) => v !== undefined) && new Set(numbers.map(Number)).size === names.length) {
    for (let i = 0; i < names.length; i++) byIndex.set(Number(numbers[i]), join(dir, names[i]));
  } else {
    for (let i = 0; i < names.length; i++) byIndex.set(i, join(dir, names[i]));
  }
  const checkSize = (file: string, width: number, height: number, frame: RgbFrame) => {
    // The engine resizes maps of another size; only reject a different aspect ratio.
    if (Math.abs(width / height - frame.width / frame.height) > 0.02) {
      throw new InputError(file, `estimate is ${width}x${height} but the frame is ${frame.width}x${frame.height}`);
    }
  };
  return async (index: number, frame: RgbFrame, layout?: ChannelLayout): Promise<PropertyMap> => {
    const file = byIndex.get(index);
    if (!file) throw new InputError(dir, `no per-frame estimate for frame ${index}`);
    let labels: { width: number; height: number; data: ArrayLike<number> };
    if (extname(file).toLowerCase() === '.npy') {
      const arr = await readNpy(file);
      if (arr.shape.length === 3) {
        const map = npyProbabilities(arr, file, valuesMode);
        checkSize(file, map.width, map.height, frame);
        return map;
      }
      if (arr.shape.length !== 2 || /f/.test(arr.dtype))
        throw new InputError(
          file,
          `expected a (C, H, W) array of probabilities or scores or an (H, W) integer label map, got ${arr.dtype} (${arr.shape.join(', ')})`,
        );
      labels = { height: arr.shape[0], width: arr.shape[1], data: arr.data };
    } else {
      labels = await readLabelPng(file, { grayscale: opts.grayscale ?? 'values' });
    }
    checkSize(file, labels.width, labels.height, frame);
    const C = Math.max(channels, layout?.channels ?? 0);
    const lut = layout?.objectIds ? channelLookup(layout) : undefined;
    const rest = (1 - conf) / (C - 1);
    const n = labels.width * labels.height;
    const data = new Float32Array(C * n).fill(rest);
    for (let i = 0; i < n; i++) {
      const id = labels.data[i];
      const k = lut ? (id < 256 ? lut[id] : -1) : id;
      if (k < 0 || k >= C) {
        throw new InputError(
          file,
          lut
            ? `object id ${id} at pixel ${i} is not one of the key-frames' objects (${layout?.objectIds?.join(', ')})`
            : `label ${id} at pixel ${i} is not below the ${C} channels (flowgru: set the perFrameChannels option to the class count)`,
        );
      }
      data[k * n + i] = conf;
    }
    return { width: labels.width, height: labels.height, channels: C, data };
  };
}

/** (C, H, W) `.npy` → probabilities (see the module comment for how values are read). */
function npyProbabilities(arr: NpyArray, file: string, mode: 'auto' | 'probabilities' | 'logits'): PropertyMap {
  const [C, height, width] = arr.shape;
  const n = width * height;
  if (C < 1 || n < 1) throw new InputError(file, `empty array (${arr.shape.join(', ')})`);
  if (C > 255) throw new InputError(file, `${C} channels: expected (C, H, W) with C classes first (is the array (H, W, C)?)`);
  const src = arr.data;
  const isFloat = /f/.test(arr.dtype);
  for (let i = 0; i < src.length; i++) {
    if (!Number.isFinite(src[i])) throw new InputError(file, `non-finite value at flat index ${i}`);
  }
  if (!isFloat) {
    if (!/u1$/.test(arr.dtype)) throw new InputError(file, `integer (C, H, W) arrays must be uint8 probabilities x 255, got ${arr.dtype}`);
    return { width, height, channels: C, data: Float32Array.from(src, (v) => v / 255) };
  }
  let probabilities = mode === 'probabilities';
  if (mode === 'auto') {
    probabilities = true;
    for (let i = 0; i < n && probabilities; i++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const v = src[c * n + i];
        if (v < 0 || v > 1) probabilities = false;
        s += v;
      }
      if (Math.abs(s - 1) > 0.01) probabilities = false;
    }
  }
  const values = src instanceof Float32Array ? src : Float32Array.from(src);
  if (probabilities) {
    const negative = values.findIndex((v) => v < 0);
    if (negative >= 0) throw new InputError(file, `negative probability at flat index ${negative} (pass values: 'logits' for scores)`);
    return { width, height, channels: C, data: values };
  }
  // Scores (logits): softmax over channels.
  return { width, height, channels: C, data: softmaxChannels(values, C, n) };
}
