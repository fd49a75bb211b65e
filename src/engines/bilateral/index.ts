/**
 * Bilateral propagation (VPN, Jampani et al. CVPR 2017), training-free "BNN-Identity" form
 * (ANCHORS §3.2): earlier frames' properties are splatted onto a permutohedral lattice over
 * scaled features, and sliced at the target frame's points with AFTER normalisation (n = 0,
 * W = I, i.e. a normalised splat→slice average).
 *
 * - mask / labels: features (Y, Cb, Cr, x, y, t) with the two scale sets Λa and Λb; Λa sees the
 *   unaries decayed by 0.5^age, Λb the undecayed ones (as VPN's deploy net feeds them); the two are
 *   averaged, ReLU'd and normalised per point. Points are SLIC superpixels (VPN) or subsampled pixels.
 * - color: features (Y, x, y, t) × (0.2, 0.04, 0.04, 0.04); 3 previous frames; 300,000 input points
 *   sampled at random (100,000 per input frame, seeded: VPN's run-to-run variation made repeatable).
 * - hdr: the colour configuration applied to the 3 log-radiance channels, guided by the LDR frames.
 *
 * Per-frame values (superpixels, lattices, splats, unaries) live in the session's feature store,
 * keyed by frame index (and by the guide's key for values derived from its property map), so a
 * frame segmented as a target is not segmented again as a guide, and memory stays bounded.
 */

import type { PropertyMap, RgbFrame } from '../../core/types.js';
import type { FeatureStore } from '../../memory/features.js';
import { previousAndKeyframe } from '../../memory/policy.js';
import { gatherMatched, type Lattice, slice, splat } from '../../ops/lattice.js';
import { createSlicWorkspace, type SlicWorkspace } from '../../ops/slic.js';
import { smear, superpixelMeans, superpixelMode } from '../../ops/superpixel-features.js';
import { probabilitiesToLabels } from '../../tasks/maps.js';
import { siblingModuleUrl } from '../../util/module-url.js';
import { keepUnchanged } from '../static-fallback.js';
import type { Engine, EngineContext, EngineRegistration, Guide } from '../types.js';
import {
  buildFramePoints,
  computeSuperpixels,
  computeValueGuide,
  computeValueTarget,
  type FrameFeatureConfig,
  type FramePoints,
  KEY,
  type PrepareOptions,
  pixelPoints,
  type SuperpixelData,
  superpixelPoints,
  type ValueGuide,
} from './frame-features.js';

/** VPN Λa (ANCHORS §3.1): Y, Cb, Cr, x, y, t. */
export const VPN_SCALES_A = [0.07, 0.4, 0.4, 0.02, 0.02, 0.01] as const;
/** VPN Λb. */
export const VPN_SCALES_B = [0.09, 0.5, 0.5, 0.03, 0.03, 0.2] as const;
/** VPN colour features Y, x, y, t (ANCHORS §3.3). */
export const VPN_COLOR_SCALES = [0.2, 0.04, 0.04, 0.04] as const;

export interface BilateralOptions {
  /** mask/labels: 'superpixel' (VPN) or 'pixel' (subsampled pixels in, every pixel out). */
  readonly variant?: 'superpixel' | 'pixel';
  /** Superpixels per frame at 854x480 (scaled by frame area). Default 12000 (VPN). */
  readonly superpixels?: number;
  /** Earlier frames used as inputs. Default 9 for masks/labels, 3 for colour (VPN). */
  readonly previousFrames?: number;
  /** Unary decay per frame of age for Λa. Default 0.5 (VPN). */
  readonly decay?: number;
  readonly scalesA?: readonly number[];
  readonly scalesB?: readonly number[];
  /** Pixel variant: take every `pixelStride`-th pixel of each guide row and column. Default 4. */
  readonly pixelStride?: number;
  readonly colorScales?: readonly number[];
  /** Colour/HDR: input points per target frame, drawn evenly from the input frames. Default 300,000 (VPN). */
  readonly colorSamples?: number;
  /** Seed of the colour input sampling. Default 0. */
  readonly seed?: number;
  /**
   * Colour/HDR: keep the nearest guide's value where the target frame did not change there. Weight
   * 1 while D ≤ keepStatic, falling linearly to 0 at 3 × keepStatic, with D the 3x3 mean absolute
   * luma difference (grey levels) between the target and that guide at the same pixel; 0 turns it off.
   * Default 5 grey levels: the luma noise of compressed 8-bit video between two frames of a still
   * scene (measured on vtest.avi: 3x3 mean |ΔY| to the previous frame ≤ 2 at the 90th percentile,
   * to a frame 99 frames earlier 3–7 at the median–75th percentile). Without it, luma-guided averaging smears chroma across similar-luma regions of a
   * static shot and falls below copying the key-frame.
   */
  readonly keepStatic?: number;
  /** When given, time spent is added here (milliseconds), for benchmarks. */
  readonly timings?: BilateralTimings;
}

/** Cumulative time per stage of the bilateral engine. */
export interface BilateralTimings {
  /** SLIC and superpixel features (superpixel variant). */
  superpixels: number;
  /** Lattice builds, splats, vertex matching and slices. */
  lattice: number;
  /** Whole predict() calls (the rest = total − superpixels − lattice). */
  total: number;
  frames: number;
}

export const bilateralEngine: EngineRegistration = {
  name: 'bilateral',
  description:
    'VPN BNN-Identity: permutohedral lattice over (Y,Cb,Cr,x,y,t) with two scale sets on SLIC superpixels (masks, labels); over (Y,x,y,t) with sampled pixels (colour, HDR)',
  tasks: ['mask', 'labels', 'color', 'hdr'],
  preference: { mask: 10, labels: 10, color: 10, hdr: 10 },
  options: {
    variant: {
      type: 'enum',
      values: ['superpixel', 'pixel'],
      default: 'superpixel',
      description: 'masks/labels: SLIC superpixels (VPN) or subsampled pixels',
    },
    superpixels: {
      type: 'number',
      integer: true,
      min: 16,
      default: 12000,
      description: 'superpixels per frame at 854x480 (scaled by frame area)',
    },
    previousFrames: {
      type: 'number',
      integer: true,
      min: 1,
      description: 'earlier frames used as inputs (default 9 for masks/labels, 3 for colour/HDR, as VPN)',
    },
    decay: { type: 'number', min: 0, max: 1, default: 0.5, description: 'unary decay per frame of age on the first scale set' },
    scalesA: { type: 'numbers', length: 6, default: VPN_SCALES_A, description: 'feature scales of the decayed lattice (Y,Cb,Cr,x,y,t)' },
    scalesB: { type: 'numbers', length: 6, default: VPN_SCALES_B, description: 'feature scales of the undecayed lattice (Y,Cb,Cr,x,y,t)' },
    pixelStride: {
      type: 'number',
      integer: true,
      min: 1,
      default: 4,
      description: "pixel variant: every n-th pixel of each guide's rows and columns",
    },
    colorScales: { type: 'numbers', length: 4, default: VPN_COLOR_SCALES, description: 'colour/HDR feature scales (Y,x,y,t)' },
    colorSamples: { type: 'number', integer: true, min: 1, default: 300_000, description: 'colour/HDR: input points per target frame' },
    seed: { type: 'number', integer: true, default: 0, description: 'seed of the colour input sampling' },
    keepStatic: {
      type: 'number',
      min: 0,
      default: 5,
      description:
        "colour/HDR: where the frame is unchanged from the nearest guide (3x3 mean |ΔY| up to this many grey levels, fading out at 3x), keep that guide's value (0 = off)",
    },
    timings: {
      type: 'value',
      accepts: 'a BilateralTimings object',
      affectsResult: false,
      check: (v) => typeof v === 'object' && v !== null && 'superpixels' in v,
      description: 'time spent per stage is added here (benchmarks)',
    },
  },
  create: ({ values, signature }) => createBilateralEngine(values as BilateralOptions, signature),
};

export function createBilateralEngine(options: BilateralOptions = {}, signature = 'bilateral'): Engine {
  return createBilateralParts(options, signature).engine;
}

/** Masks/labels: the guides' unaries filtered onto a target frame's points (superpixels or pixels). */
export interface FilteredUnaries {
  /** Λa on unaries decayed by `decay`^age, AFTER-normalised: planar C x points.count. */
  readonly a: Float32Array;
  /** Λb on undecayed unaries, likewise. */
  readonly b: Float32Array;
  readonly C: number;
  /** The target's points and lattices (in = out = the target's points). */
  readonly points: FramePoints;
}

/** Colour/HDR: the guides' values filtered onto every target pixel. */
export interface FilteredValues {
  /** AFTER-normalised values, planar C x pixels. */
  readonly values: Float32Array;
  /** 1 − exp(−filtered ones): 0 where no input reached the pixel. */
  readonly support: Float32Array;
  readonly C: number;
  /** The target's lattice over all its pixels (in = out), features (Y, x, y, t) x colorScales. */
  readonly lattice: Lattice;
  /** The guide nearest to the target. */
  readonly nearest: Guide;
}

/** The bilateral engine and its front ends, for engines that put learned stages on top (vpn). */
export interface BilateralParts {
  readonly engine: Engine;
  /**
   * The guides' unaries filtered onto the target (the feature store caches every per-frame part).
   * `stage` (default '', the bilateral engine's own): which unaries the guides hand on, stored under
   * `KEY.unary(guideKey + stage)` (a learned stage's own, e.g. vpn's '#stage1'); a guide without one
   * there gives its key-frame one-hot or its property's superpixel means, as for stage ''.
   */
  filteredUnaries(
    target: { index: number; frame: RgbFrame },
    guides: readonly Guide[],
    ctx: EngineContext,
    stage?: string,
  ): FilteredUnaries;
  filteredValues(target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): FilteredValues;
  /**
   * Colour/HDR: make `values` (planar C x pixels of frame `index`) what the frame hands on as a
   * guide under `key`, whatever property the prediction carries (the splat is cached; the feature
   * store may evict it, and then the guide's property is splatted instead).
   */
  rememberValues(features: FeatureStore, index: number, frame: RgbFrame, key: string, values: Float32Array, C: number): void;
  /** The static fall-back (option `keepStatic`) applied in place to values predicted for `target`. */
  keepStaticValues(out: Float32Array, support: Float32Array, C: number, target: RgbFrame, guides: readonly Guide[], nearest: Guide): void;
}

/**
 * BNN-Identity's tail: the 0.5/0.5 channel average of the two filters, ReLU, normalised per point
 * (VPN's "normalize": divide by sum + 1e-12), and the support (Λb's undecayed average sums to 1
 * wherever some input reached the point, 0 where none did).
 */
export function identityHead({ a, b, C, points }: FilteredUnaries): { probs: Float32Array; support: Float32Array } {
  const nOut = points.count;
  const probs = new Float32Array(C * nOut);
  const support = new Float32Array(nOut);
  for (let k = 0; k < nOut; k++) {
    let sum = 0;
    let sb = 0;
    for (let c = 0; c < C; c++) {
      const v = Math.max(0, 0.5 * a[c * nOut + k] + 0.5 * b[c * nOut + k]);
      probs[c * nOut + k] = v;
      sum += v;
      sb += b[c * nOut + k];
    }
    for (let c = 0; c < C; c++) probs[c * nOut + k] /= sum + 1e-12;
    support[k] = Math.min(1, Math.max(0, sb));
  }
  return { probs, support };
}

export function createBilateralParts(options: BilateralOptions = {}, signature = 'bilateral'): BilateralParts {
  const variant = options.variant ?? 'superpixel';
  const decay = options.decay ?? 0.5;
  const scalesA = options.scalesA ?? VPN_SCALES_A;
  const scalesB = options.scalesB ?? VPN_SCALES_B;
  const colorScales = options.colorScales ?? VPN_COLOR_SCALES;
  const stride = Math.max(1, Math.round(options.pixelStride ?? 4));
  const colorSamples = options.colorSamples ?? 300_000;
  const seed = options.seed ?? 0;
  const keepStatic = options.keepStatic ?? 5;
  if (scalesA.length !== 6 || scalesB.length !== 6)
    throw new RangeError('bilateral: scalesA and scalesB need 6 values (Y, Cb, Cr, x, y, t)');
  if (colorScales.length !== 4) throw new RangeError('bilateral: colorScales needs 4 values (Y, x, y, t)');

  const config: FrameFeatureConfig = {
    variant,
    superpixels: options.superpixels ?? 12000,
    scalesA,
    scalesB,
    colorScales,
    pixelStride: stride,
    colorSamples,
    valueFrames: options.previousFrames ?? 3,
    seed,
  };
  let workspace: SlicWorkspace | undefined;

  const superpixelsOf = (features: FeatureStore, frame: RgbFrame, t: number): SuperpixelData =>
    features.getOrCompute(t, KEY.superpixels, () => {
      if (!workspace || workspace.width !== frame.width || workspace.height !== frame.height)
        workspace = createSlicWorkspace(frame.width, frame.height);
      const started = performance.now();
      const sp = computeSuperpixels(frame, t, config, workspace);
      if (options.timings) options.timings.superpixels += performance.now() - started;
      return sp;
    });

  /** Per-superpixel unary (C x count): one-hot of the majority label on key-frames, mean probabilities otherwise. */
  const unaryOf = (features: FeatureStore, g: Guide, sp: SuperpixelData, stage: string): Float32Array =>
    features.getOrCompute(g.index, KEY.unary(g.key + stage), () => {
      const C = g.property.channels;
      if (g.isKeyframe) {
        const mode = superpixelMode(sp.labels, sp.count, probabilitiesToLabels(g.property).data, C);
        const u = new Float32Array(C * sp.count);
        for (let s = 0; s < sp.count; s++) u[mode[s] * sp.count + s] = 1;
        return u;
      }
      const u = superpixelMeans(sp.labels, sp.count, g.property.data, C);
      normaliseColumns(u, C, sp.count);
      return u;
    });

  /** A frame's points as a guide (superpixels, or every `stride`-th pixel) or as a target (superpixels, or every pixel), with their lattices. */
  const framePoints = (features: FeatureStore, frame: RgbFrame, t: number, role: 'guide' | 'target'): FramePoints =>
    features.getOrCompute(t, role === 'guide' || variant === 'superpixel' ? KEY.guidePoints : KEY.targetPoints, () => {
      const input =
        variant === 'superpixel'
          ? superpixelPoints(superpixelsOf(features, frame, t))
          : pixelPoints(frame, t, role === 'guide' ? stride : 1);
      const started = performance.now();
      const points = buildFramePoints(input, t, config);
      if (options.timings) options.timings.lattice += performance.now() - started;
      return points;
    });

  /** A guide map splatted onto the guide frame's two lattices (C channels). */
  const splatsOf = (features: FeatureStore, g: Guide, pts: FramePoints, stage: string): { SA: Float32Array; SB: Float32Array } =>
    features.getOrCompute(g.index, KEY.splats(g.key + stage), () => {
      const C = g.property.channels;
      let values: Float32Array;
      if (pts.sp) values = unaryOf(features, g, pts.sp, stage);
      else {
        const n = g.property.width * g.property.height;
        const idx = pts.index as Int32Array;
        values = new Float32Array(C * pts.count);
        for (let c = 0; c < C; c++) for (let k = 0; k < pts.count; k++) values[c * pts.count + k] = g.property.data[c * n + idx[k]];
      }
      const started = performance.now();
      const out = { SA: splat(pts.latA, values, C), SB: splat(pts.latB, values, C) };
      if (options.timings) options.timings.lattice += performance.now() - started;
      return out;
    });

  /**
   * Masks/labels: the guides' unaries filtered onto the target's points by the two normalised
   * lattices (Λa on unaries decayed by 0.5^age, Λb undecayed), before BNN-Identity's tail; `stage`
   * picks which unaries the guides hand on (see BilateralParts).
   */
  const filteredUnaries = (
    target: { index: number; frame: RgbFrame },
    guides: readonly Guide[],
    ctx: EngineContext,
    stage = '',
  ): FilteredUnaries => {
    const { features } = ctx;
    const C = guides[0].property.channels;
    const used = nearest(guides, target.index, options.previousFrames ?? 9);
    const tgt = framePoints(features, target.frame, target.index, 'target');
    let latticeTime = 0;
    // Accumulate the guides' cached splats on the target's vertices (matched by key): the same sums
    // as one lattice built over all guide points and the target points (ANCHORS §2.1, §3.2).
    const acc = (
      lat: Lattice,
      pick: (gp: FramePoints) => Lattice,
      splats: (s: { SA: Float32Array; SB: Float32Array }) => Float32Array,
      ones: (gp: FramePoints) => Float32Array,
      decayed: boolean,
    ) => {
      const V = new Float32Array((lat.M + 1) * C);
      const D = new Float32Array(lat.M + 1);
      for (let age = 0; age < used.length; age++) {
        const g = used[age];
        if (g.property.channels !== C)
          throw new RangeError(`bilateral: guide ${g.index} has ${g.property.channels} channels, expected ${C}`);
        const gp = framePoints(features, g.frame, g.index, 'guide');
        const S = splats(splatsOf(features, g, gp, stage));
        const N = ones(gp);
        const w = decayed ? decay ** age : 1;
        const started = performance.now();
        gatherMatched(lat, pick(gp), S, N, C, w, V, D);
        latticeTime += performance.now() - started;
      }
      const started = performance.now();
      const num = slice(lat, V, C);
      const den = slice(lat, D, 1);
      latticeTime += performance.now() - started;
      for (let k = 0; k < tgt.count; k++) {
        const inv = 1 / (den[k] + 1e-20);
        for (let c = 0; c < C; c++) num[c * tgt.count + k] *= inv;
      }
      return num;
    };
    // Λa sees decayed unaries, Λb undecayed (VPN's deploy net feeds `unary` to the second BCL).
    const a = acc(
      tgt.latA,
      (gp) => gp.latA,
      (s) => s.SA,
      (gp) => gp.onesA,
      true,
    );
    const b = acc(
      tgt.latB,
      (gp) => gp.latB,
      (s) => s.SB,
      (gp) => gp.onesB,
      false,
    );
    if (options.timings) options.timings.lattice += latticeTime;
    return { a, b, C, points: tgt };
  };

  const predictProbabilities = (target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): PropertyMap => {
    const filtered = filteredUnaries(target, guides, ctx);
    const { probs, support } = identityHead(filtered);
    const { points: tgt, C } = filtered;
    const { width, height } = target.frame;
    const n = width * height;
    if (tgt.sp) {
      const data = smear(tgt.sp.labels, probs, C, n);
      // When this prediction guides later frames its unary is exactly `probs` (already
      // normalised per superpixel): remember it instead of re-averaging the smeared map.
      ctx.features.set(target.index, KEY.unary(ctx.resultKey), probs);
      return { width, height, channels: C, data, confidence: smear(tgt.sp.labels, support, 1, n) };
    }
    return { width, height, channels: C, data: probs, confidence: support };
  };

  /**
   * Value maps (colour chroma, HDR log radiance; any channel count): the guides' values filtered
   * onto every target pixel over (Y, x, y, t), AFTER-normalised, before the static fall-back.
   */
  const filteredValues = (target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): FilteredValues => {
    const { features } = ctx;
    const n = target.frame.width * target.frame.height;
    const used = nearest(guides, target.index, options.previousFrames ?? 3);
    const C = used[0].property.channels;
    const tgt = features.getOrCompute(target.index, KEY.valueTarget, () => computeValueTarget(target.frame, target.index, config));
    const V = new Float32Array((tgt.lat.M + 1) * C);
    const D = new Float32Array(tgt.lat.M + 1);
    for (const g of used) {
      if (g.property.channels !== C) throw new RangeError(`bilateral: guide ${g.index} has ${g.property.channels} channels, expected ${C}`);
      const gp = features.getOrCompute(g.index, KEY.valueGuide, () => computeValueGuide(g.frame, g.index, config));
      const S = features.getOrCompute(g.index, KEY.valueSplat(g.key), () =>
        splatValues(gp, g.property.data, C, g.property.width * g.property.height),
      );
      gatherMatched(tgt.lat, gp.lat, S, gp.ones, C, 1, V, D);
    }
    const values = slice(tgt.lat, V, C);
    const den = slice(tgt.lat, D, 1);
    const support = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const inv = 1 / (den[k] + 1e-20);
      for (let c = 0; c < C; c++) values[c * n + k] *= inv;
      // Soft support: 0 where no input reached the pixel, near 1 where many did.
      support[k] = 1 - Math.exp(-den[k]);
    }
    return { values, support, C, lattice: tgt.lat, nearest: used[0] };
  };

  /** A frame's planar values (C x gn pixels) at its sampled guide points, splatted onto its guide lattice. */
  const splatValues = (gp: ValueGuide, data: Float32Array, C: number, gn: number): Float32Array => {
    const m = gp.index.length;
    const values = new Float32Array(C * m);
    for (let c = 0; c < C; c++) for (let k = 0; k < m; k++) values[c * m + k] = data[c * gn + gp.index[k]];
    return splat(gp.lat, values, C);
  };

  const rememberValues = (features: FeatureStore, index: number, frame: RgbFrame, key: string, values: Float32Array, C: number) => {
    const gp = features.getOrCompute(index, KEY.valueGuide, () => computeValueGuide(frame, index, config));
    features.set(index, KEY.valueSplat(key), splatValues(gp, values, C, frame.width * frame.height));
  };

  /** The static fall-back (`keepStatic`) on filtered values, in place. */
  const keepStaticValues = (
    out: Float32Array,
    support: Float32Array,
    C: number,
    target: RgbFrame,
    guides: readonly Guide[],
    nearestGuide: Guide,
  ) => {
    if (keepStatic <= 0) return;
    // Candidates: the nearest guide and the pass's key-frame (exact, and never smeared).
    const key = guides.find((g) => g.isKeyframe);
    keepUnchanged(out, support, C, target, key && key !== nearestGuide ? [key, nearestGuide] : [nearestGuide], keepStatic);
  };

  const predictValues = (target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): PropertyMap => {
    const { width, height } = target.frame;
    const { values, support, C, nearest: near } = filteredValues(target, guides, ctx);
    keepStaticValues(values, support, C, target.frame, guides, near);
    return { width, height, channels: C, data: values, confidence: support };
  };

  const engine: Engine = {
    name: 'bilateral',
    tasks: bilateralEngine.tasks,
    // The key-frame stays available beyond the window: the value tasks' static fall-back compares
    // with it (masks use the nearest frames only, so their results do not change).
    guides: previousAndKeyframe(Math.max(options.previousFrames ?? 9, 3)),
    signature,
    needsKeyframes: true,
    prepare: (task) => ({
      module: siblingModuleUrl(import.meta.url, 'frame-features'),
      options: { task, config } satisfies PrepareOptions,
    }),
    async predict(target, guides, ctx) {
      if (guides.length === 0) throw new Error('bilateral engine: no guide frames');
      const started = performance.now();
      const out =
        ctx.task === 'color' || ctx.task === 'hdr' ? predictValues(target, guides, ctx) : predictProbabilities(target, guides, ctx);
      if (options.timings) {
        options.timings.total += performance.now() - started;
        options.timings.frames += 1;
      }
      return out;
    },
  };
  return { engine, filteredUnaries, filteredValues, rememberValues, keepStaticValues };
}

/** The `count` guides nearest to the target in frame index (age 0 = nearest). */
function nearest(guides: readonly Guide[], t: number, count: number): Guide[] {
  return [...guides].sort((a, b) => Math.abs(a.index - t) - Math.abs(b.index - t)).slice(0, Math.max(1, count));
}

/** Per superpixel (column of planar C x count): ReLU, then divide by the sum (columns summing to 0 are left). */
export function normaliseColumns(u: Float32Array, C: number, count: number): void {
  for (let s = 0; s < count; s++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.max(0, u[c * count + s]);
    if (sum <= 0) continue;
    for (let c = 0; c < C; c++) u[c * count + s] = Math.max(0, u[c * count + s]) / sum;
  }
}
