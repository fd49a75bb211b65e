/**
 * The bilateral engine's per-frame analysis: what depends on a frame alone (superpixels and their
 * features, the frame's lattices as a guide and as a target, the sampled colour points), computed
 * in one place for the engine's lazy path and for `prepareFrame`, which a session's worker pool runs
 * for the frames ahead of the propagation (Engine.prepare). Both paths give the same values under
 * the same feature-store keys.
 */
import type { RgbFrame, Task } from '../../core/types.js';
import { cbOf, crOf, lumaOf } from '../../formats/color.js';
import { buildLattice, type Lattice, prepareMatching, splat } from '../../ops/lattice.js';
import { createSlicWorkspace, type SlicWorkspace, slic } from '../../ops/slic.js';
import { superpixelVpnFeatures } from '../../ops/superpixel-features.js';
import { Rng } from '../../util/rng.js';
import type { PrepareFrame } from '../types.js';

/** Feature-store keys of the engine (per frame index; `@key` ones per guide property). */
export const KEY = {
  superpixels: 'bilateral:superpixels',
  guidePoints: 'bilateral:points:guide',
  targetPoints: 'bilateral:points:target',
  unary: (guideKey: string) => `bilateral:unary@${guideKey}`,
  splats: (guideKey: string) => `bilateral:splats@${guideKey}`,
  valueGuide: 'bilateral:value-guide',
  valueTarget: 'bilateral:value-target',
  valueSplat: (guideKey: string) => `bilateral:value-splat@${guideKey}`,
};

export interface SuperpixelData {
  labels: Int32Array;
  count: number;
  /** 6 x count: Y, Cb, Cr, x, y, t (raw units). */
  features: Float32Array;
}

/** A frame's lattice points for one role, with both scale sets' lattices and splats of ones. */
export interface FramePoints {
  t: number;
  count: number;
  /** Superpixel variant: the superpixels the points are. */
  sp: SuperpixelData | undefined;
  /** Pixel variant: the pixel index of each point. */
  index: Int32Array | undefined;
  latA: Lattice;
  latB: Lattice;
  onesA: Float32Array;
  onesB: Float32Array;
}

/** A colour/HDR frame's lattice over all its pixels (as a target). */
export interface ValueTarget {
  lat: Lattice;
}

/** A colour/HDR frame's sampled pixels, their lattice and its splat of ones (as a guide). */
export interface ValueGuide {
  lat: Lattice;
  index: Int32Array;
  ones: Float32Array;
}

/** The effective options the per-frame analysis depends on (structured-cloneable). */
export interface FrameFeatureConfig {
  readonly variant: 'superpixel' | 'pixel';
  /** Superpixels at 854x480, scaled by frame area. */
  readonly superpixels: number;
  readonly scalesA: readonly number[];
  readonly scalesB: readonly number[];
  readonly colorScales: readonly number[];
  readonly pixelStride: number;
  readonly colorSamples: number;
  /** Colour/HDR inputs per target (the sample count is split between them). */
  readonly valueFrames: number;
  readonly seed: number;
}

const REFERENCE_AREA = 854 * 480;

export function superpixelCount(cfg: FrameFeatureConfig, width: number, height: number): number {
  return Math.max(16, Math.round((cfg.superpixels * width * height) / REFERENCE_AREA));
}

/** SLIC superpixels of a frame and their VPN features (`workspace` is reused when its size fits). */
export function computeSuperpixels(frame: RgbFrame, t: number, cfg: FrameFeatureConfig, workspace?: SlicWorkspace): SuperpixelData {
  const ws = workspace && workspace.width === frame.width && workspace.height === frame.height ? workspace : undefined;
  const segments = superpixelCount(cfg, frame.width, frame.height);
  const res = slic(frame.data, frame.width, frame.height, { segments, workspace: ws });
  // The labels are kept (feature store) and may be transferred to another thread: they must not
  // share memory with the workspace the next frame reuses.
  const shared = ws !== undefined && Object.values(ws).some((v) => ArrayBuffer.isView(v) && v.buffer === res.labels.buffer);
  const labels = shared ? res.labels.slice() : res.labels;
  const { count } = res;
  return { labels, count, features: superpixelVpnFeatures(frame.data, frame.width, frame.height, labels, count, t) };
}

/** Points of a frame before the lattices: superpixels, or every `stride`-th pixel. */
export interface PointInput {
  features: Float32Array;
  count: number;
  sp: SuperpixelData | undefined;
  index: Int32Array | undefined;
}

export function superpixelPoints(sp: SuperpixelData): PointInput {
  return { features: sp.features, count: sp.count, sp, index: undefined };
}

/** Raw VPN features (Y, Cb, Cr, x, y, t) of every `stride`-th pixel (6 x count), with the pixel indices. */
export function pixelPoints(frame: RgbFrame, t: number, stride: number): PointInput {
  const { width, height, data } = frame;
  const cols = Math.ceil(width / stride);
  const rows = Math.ceil(height / stride);
  const count = cols * rows;
  const features = new Float32Array(6 * count);
  const index = new Int32Array(count);
  let k = 0;
  for (let y = 0; y < height; y += stride) {
    for (let x = 0; x < width; x += stride, k++) {
      const q = y * width + x;
      const r = data[q * 3];
      const g = data[q * 3 + 1];
      const b = data[q * 3 + 2];
      features[k] = lumaOf(r, g, b);
      features[count + k] = cbOf(r, g, b);
      features[2 * count + k] = crOf(r, g, b);
      features[3 * count + k] = x;
      features[4 * count + k] = y;
      features[5 * count + k] = t;
      index[k] = q;
    }
  }
  return { features, count, sp: undefined, index };
}

/** The two scale sets' lattices over a frame's points, with their splats of ones. */
export function buildFramePoints(input: PointInput, t: number, cfg: FrameFeatureConfig): FramePoints {
  const { features, count } = input;
  const latA = buildLattice(scaleFeatures(features, count, cfg.scalesA), count, null, count, 6);
  const latB = buildLattice(scaleFeatures(features, count, cfg.scalesB), count, null, count, 6);
  // Every frame's lattices are matched by key against other frames' (as a target and as a guide).
  prepareMatching(latA);
  prepareMatching(latB);
  const ones = new Float32Array(count).fill(1);
  return { t, count, sp: input.sp, index: input.index, latA, latB, onesA: splat(latA, ones, 1), onesB: splat(latB, ones, 1) };
}

/** Colour features (Y, x, y, t) x colorScales of the given pixels (all when `index` is undefined), 4 x count. */
export function valueFeatures(frame: RgbFrame, t: number, index: Int32Array | undefined, colorScales: readonly number[]): Float32Array {
  const count = index ? index.length : frame.width * frame.height;
  const f = new Float32Array(4 * count);
  const d = frame.data;
  for (let k = 0; k < count; k++) {
    const q = index ? index[k] : k;
    f[k] = lumaOf(d[q * 3], d[q * 3 + 1], d[q * 3 + 2]) * colorScales[0];
    f[count + k] = (q % frame.width) * colorScales[1];
    f[2 * count + k] = Math.floor(q / frame.width) * colorScales[2];
    f[3 * count + k] = t * colorScales[3];
  }
  return f;
}

export function computeValueTarget(frame: RgbFrame, t: number, cfg: FrameFeatureConfig): ValueTarget {
  const n = frame.width * frame.height;
  return { lat: buildLattice(valueFeatures(frame, t, undefined, cfg.colorScales), n, null, n, 4) };
}

/**
 * VPN samples 300k points from the union of its 3 input frames per target; each frame's share
 * (300k / 3) is drawn once, seeded by frame index, so a frame's lattice and splat serve every target
 * it guides (stratified, same point density; the sums are gathered by vertex key).
 */
export function computeValueGuide(frame: RgbFrame, t: number, cfg: FrameFeatureConfig): ValueGuide {
  const perFrame = Math.max(1, Math.floor(cfg.colorSamples / Math.max(1, cfg.valueFrames)));
  const index = samplePixels(frame.width * frame.height, perFrame, new Rng((cfg.seed * 0x9e3779b1) ^ (t + 1)));
  const lat = buildLattice(valueFeatures(frame, t, index, cfg.colorScales), index.length, null, index.length, 4);
  return { lat, index, ones: splat(lat, new Float32Array(index.length).fill(1), 1) };
}

/** What `prepareFrame` receives: the task and the analysis options. */
export interface PrepareOptions {
  readonly task: Task;
  readonly config: FrameFeatureConfig;
}

/** One SLIC workspace per worker (a worker prepares one frame at a time). */
let workspace: SlicWorkspace | undefined;

/** Engine.prepare's module entry: every frame-only value the task will ask for, by feature key. */
export const prepareFrame: PrepareFrame = (frame, t, options) => {
  const { task, config } = options as PrepareOptions;
  if (task === 'color' || task === 'hdr')
    return { [KEY.valueTarget]: computeValueTarget(frame, t, config), [KEY.valueGuide]: computeValueGuide(frame, t, config) };
  if (config.variant === 'superpixel') {
    if (!workspace || workspace.width !== frame.width || workspace.height !== frame.height)
      workspace = createSlicWorkspace(frame.width, frame.height);
    const sp = computeSuperpixels(frame, t, config, workspace);
    return { [KEY.superpixels]: sp, [KEY.guidePoints]: buildFramePoints(superpixelPoints(sp), t, config) };
  }
  return {
    [KEY.guidePoints]: buildFramePoints(pixelPoints(frame, t, config.pixelStride), t, config),
    [KEY.targetPoints]: buildFramePoints(pixelPoints(frame, t, 1), t, config),
  };
};

/** `count` distinct pixel indices out of `n` (partial Fisher-Yates), ascending for cache-friendly reads. */
function samplePixels(n: number, count: number, rng: Rng): Int32Array {
  if (count >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const pick = new Int32Array(n);
  for (let i = 0; i < n; i++) pick[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i);
    const tmp = pick[i];
    pick[i] = pick[j];
    pick[j] = tmp;
  }
  return pick.slice(0, count).sort();
}

function scaleFeatures(f: Float32Array, n: number, scales: readonly number[]): Float32Array {
  const out = new Float32Array(scales.length * n);
  for (let j = 0; j < scales.length; j++) {
    const s = scales[j];
    for (let k = 0; k < n; k++) out[j * n + k] = f[j * n + k] * s;
  }
  return out;
}
