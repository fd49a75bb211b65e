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
import { cbOf, crOf, lumaOf } from '../../formats/color.js';
import type { FeatureStore } from '../../memory/features.js';
import { previousAndKeyframe } from '../../memory/policy.js';
import { buildLattice, type Lattice, matchVertices, slice, splat } from '../../ops/lattice.js';
import { createSlicWorkspace, type SlicWorkspace, slic } from '../../ops/slic.js';
import { smear, superpixelMeans, superpixelMode, superpixelVpnFeatures } from '../../ops/superpixel-features.js';
import { probabilitiesToLabels } from '../../tasks/maps.js';
import { Rng } from '../../util/rng.js';
import type { Engine, EngineContext, EngineRegistration, Guide } from '../types.js';

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

interface SuperpixelData {
  labels: Int32Array;
  count: number;
  /** 6 x count: Y, Cb, Cr, x, y, t (raw units). */
  features: Float32Array;
}

/** A frame's lattice points for one role, with both scale sets' lattices and splats of ones. */
interface FramePoints {
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

const REFERENCE_AREA = 854 * 480;

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

/** Feature-store keys of this engine (per frame index; `@key` ones per guide property). */
const KEY = {
  superpixels: 'bilateral:superpixels',
  guidePoints: 'bilateral:points:guide',
  targetPoints: 'bilateral:points:target',
  unary: (guideKey: string) => `bilateral:unary@${guideKey}`,
  splats: (guideKey: string) => `bilateral:splats@${guideKey}`,
  valueGuide: 'bilateral:value-guide',
  valueTarget: 'bilateral:value-target',
  valueSplat: (guideKey: string) => `bilateral:value-splat@${guideKey}`,
};

export function createBilateralEngine(options: BilateralOptions = {}, signature = 'bilateral'): Engine {
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

  let workspace: SlicWorkspace | undefined;

  const superpixelsOf = (features: FeatureStore, frame: RgbFrame, t: number): SuperpixelData =>
    features.getOrCompute(t, KEY.superpixels, () => {
      if (!workspace || workspace.width !== frame.width || workspace.height !== frame.height)
        workspace = createSlicWorkspace(frame.width, frame.height);
      const segments = Math.max(16, Math.round(((options.superpixels ?? 12000) * frame.width * frame.height) / REFERENCE_AREA));
      const started = performance.now();
      const { labels, count } = slic(frame.data, frame.width, frame.height, { segments, workspace });
      const spFeatures = superpixelVpnFeatures(frame.data, frame.width, frame.height, labels, count, t);
      if (options.timings) options.timings.superpixels += performance.now() - started;
      return { labels, count, features: spFeatures };
    });

  /** Per-superpixel unary (C x count): one-hot of the majority label on key-frames, mean probabilities otherwise. */
  const unaryOf = (features: FeatureStore, g: Guide, sp: SuperpixelData): Float32Array =>
    features.getOrCompute(g.index, KEY.unary(g.key), () => {
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
      let pointFeatures: Float32Array;
      let count: number;
      let sp: SuperpixelData | undefined;
      let index: Int32Array | undefined;
      if (variant === 'superpixel') {
        sp = superpixelsOf(features, frame, t);
        pointFeatures = sp.features;
        count = sp.count;
      } else {
        const px = pixelFeatures(frame, t, role === 'guide' ? stride : 1);
        pointFeatures = px.features;
        count = px.count;
        index = px.index;
      }
      const started = performance.now();
      const latA = buildLattice(scaleFeatures(pointFeatures, count, scalesA), count, null, count, 6);
      const latB = buildLattice(scaleFeatures(pointFeatures, count, scalesB), count, null, count, 6);
      const ones = new Float32Array(count).fill(1);
      const points: FramePoints = { t, count, sp, index, latA, latB, onesA: splat(latA, ones, 1), onesB: splat(latB, ones, 1) };
      if (options.timings) options.timings.lattice += performance.now() - started;
      return points;
    });

  /** A guide map splatted onto the guide frame's two lattices (C channels). */
  const splatsOf = (features: FeatureStore, g: Guide, pts: FramePoints): { SA: Float32Array; SB: Float32Array } =>
    features.getOrCompute(g.index, KEY.splats(g.key), () => {
      const C = g.property.channels;
      let values: Float32Array;
      if (pts.sp) values = unaryOf(features, g, pts.sp);
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

  const predictProbabilities = (target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): PropertyMap => {
    const { features } = ctx;
    const C = guides[0].property.channels;
    const { width, height } = target.frame;
    const n = width * height;
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
        const S = splats(splatsOf(features, g, gp));
        const N = ones(gp);
        const w = decayed ? decay ** age : 1;
        const started = performance.now();
        gatherSplats(V, D, matchVertices(lat, pick(gp)), S, N, C, w);
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
    const nOut = tgt.count;
    // 0.5/0.5 channel average, ReLU, normalise (VPN's "normalize" layer: divide by sum + 1e-12).
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
      // Λb's undecayed average sums to 1 wherever some input reached the point, 0 where none did.
      support[k] = Math.min(1, Math.max(0, sb));
    }
    if (tgt.sp) {
      const data = smear(tgt.sp.labels, probs, C, n);
      // When this prediction guides later frames its unary is exactly `probs` (already
      // normalised per superpixel): remember it instead of re-averaging the smeared map.
      features.set(target.index, KEY.unary(ctx.resultKey), probs);
      return { width, height, channels: C, data, confidence: smear(tgt.sp.labels, support, 1, n) };
    }
    return { width, height, channels: C, data: probs, confidence: support };
  };

  const valueFeatures = (frame: RgbFrame, t: number, index: Int32Array | undefined): Float32Array => {
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
  };

  /** Value maps (colour chroma, HDR log radiance): any channel count, guided by (Y, x, y, t). */
  const predictValues = (target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): PropertyMap => {
    const { features } = ctx;
    const { width, height } = target.frame;
    const n = width * height;
    const used = nearest(guides, target.index, options.previousFrames ?? 3);
    const C = used[0].property.channels;
    // VPN samples 300k points from the union of its 3 input frames per target; we draw each frame's
    // share (300k / 3) once, seeded by frame index, so a frame's lattice and splat serve every target
    // it guides (stratified, same point density; the sums are then gathered by vertex key).
    const perFrame = Math.max(1, Math.floor(colorSamples / Math.max(1, options.previousFrames ?? 3)));
    const tgt = features.getOrCompute(target.index, KEY.valueTarget, () => ({
      lat: buildLattice(valueFeatures(target.frame, target.index, undefined), n, null, n, 4),
    }));
    const V = new Float32Array((tgt.lat.M + 1) * C);
    const D = new Float32Array(tgt.lat.M + 1);
    for (const g of used) {
      if (g.property.channels !== C) throw new RangeError(`bilateral: guide ${g.index} has ${g.property.channels} channels, expected ${C}`);
      const gp = features.getOrCompute(g.index, KEY.valueGuide, () => {
        const index = samplePixels(g.frame.width * g.frame.height, perFrame, new Rng((seed * 0x9e3779b1) ^ (g.index + 1)));
        const lat = buildLattice(valueFeatures(g.frame, g.index, index), index.length, null, index.length, 4);
        return { lat, index, ones: splat(lat, new Float32Array(index.length).fill(1), 1) };
      });
      const S = features.getOrCompute(g.index, KEY.valueSplat(g.key), () => {
        const gn = g.property.width * g.property.height;
        const m = gp.index.length;
        const values = new Float32Array(C * m);
        for (let c = 0; c < C; c++) for (let k = 0; k < m; k++) values[c * m + k] = g.property.data[c * gn + gp.index[k]];
        return splat(gp.lat, values, C);
      });
      gatherSplats(V, D, matchVertices(tgt.lat, gp.lat), S, gp.ones, C, 1);
    }
    const out = slice(tgt.lat, V, C);
    const den = slice(tgt.lat, D, 1);
    const support = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      const inv = 1 / (den[k] + 1e-20);
      for (let c = 0; c < C; c++) out[c * n + k] *= inv;
      // Soft support: 0 where no input reached the pixel, near 1 where many did.
      support[k] = 1 - Math.exp(-den[k]);
    }
    if (keepStatic > 0) {
      // Candidates: the nearest guide and the pass's key-frame (exact, and never smeared).
      const key = guides.find((g) => g.isKeyframe);
      keepUnchanged(out, support, C, target.frame, key && key !== used[0] ? [key, used[0]] : [used[0]], keepStatic);
    }
    return { width, height, channels: C, data: out, confidence: support };
  };

  return {
    name: 'bilateral',
    tasks: bilateralEngine.tasks,
    // The key-frame stays available beyond the window: the value tasks' static fall-back compares
    // with it (masks use the nearest frames only, so their results do not change).
    guides: previousAndKeyframe(Math.max(options.previousFrames ?? 9, 3)),
    signature,
    needsKeyframes: true,
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
}

/**
 * Static-region fall-back of the value tasks: where the target frame equals a candidate guide frame
 * at the same pixel (3x3 mean absolute luma difference D within the noise `scale`), that guide's
 * value there is the best estimate. D is measured after removing the median luma difference (a
 * global brightness change keeps colours). Per pixel the first candidate (the key-frame) wins
 * while its D is within `scale`, else the candidate with the smallest D, blended in with weight 1
 * up to D = scale, 0 from 3 × scale, linear between. Comparing with the key-frame too means a region a moving object uncovered gets the
 * key-frame's value back rather than keeping a smeared one. `out` (C x n) and `support` are
 * updated in place; support becomes at least the blend weight.
 */
function keepUnchanged(
  out: Float32Array,
  support: Float32Array,
  C: number,
  frame: RgbFrame,
  candidates: readonly Guide[],
  scale: number,
): void {
  const { width: W, height: H } = frame;
  const n = W * H;
  const usable = candidates.filter(
    (g) => g.frame.width === W && g.frame.height === H && g.property.width === W && g.property.height === H && g.property.channels === C,
  );
  if (usable.length === 0) return;
  const lumaOfFrame = (f: RgbFrame) => {
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) y[i] = lumaOf(f.data[3 * i], f.data[3 * i + 1], f.data[3 * i + 2]);
    return y;
  };
  const yt = lumaOfFrame(frame);
  const best = new Float32Array(n).fill(Number.POSITIVE_INFINITY);
  const from = new Int8Array(n).fill(-1);
  const diff = new Float32Array(n);
  usable.forEach((g, k) => {
    const yg = lumaOfFrame(g.frame);
    // A global brightness change (exposure, compression drift) changes no colour: remove the
    // median luma difference first.
    for (let i = 0; i < n; i++) diff[i] = yt[i] - yg[i];
    const offset = medianOf(diff);
    for (let i = 0; i < n; i++) diff[i] = Math.abs(diff[i] - offset);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let sum = 0;
        let count = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            sum += diff[yy * W + xx];
            count++;
          }
        }
        const i = y * W + x;
        const d = sum / count;
        // The first candidate (the key-frame: exact, never smeared) wins whenever it is within the
        // noise scale; otherwise the closest candidate.
        if (from[i] === 0 && best[i] <= scale) continue;
        if (d < best[i]) {
          best[i] = d;
          from[i] = k;
        }
      }
    }
  });
  for (let i = 0; i < n; i++) {
    // 1 up to the noise scale, falling linearly to 0 at three times it.
    const w = Math.min(1, Math.max(0, (3 * scale - best[i]) / (2 * scale)));
    if (w === 0) continue;
    const g = usable[from[i]].property.data;
    for (let c = 0; c < C; c++) out[c * n + i] = w * g[c * n + i] + (1 - w) * out[c * n + i];
    if (support[i] < w) support[i] = w;
  }
}

/** Median of the values (a copy is sorted; the input is left as it is). */
function medianOf(v: Float32Array): number {
  const s = v.slice().sort();
  return s.length === 0 ? 0 : s[s.length >> 1];
}

/**
 * V[v+1][c] += w * S[map[v]][c] and D[v+1] += N[map[v]] for every target vertex v whose key the
 * guide lattice has (map[v] > 0). Vertex-major `(M+1) x C` buffers, slot 0 unused.
 */
function gatherSplats(V: Float32Array, D: Float32Array, map: Int32Array, S: Float32Array, N: Float32Array, C: number, w: number): void {
  const M = map.length;
  for (let v = 0; v < M; v++) {
    const src = map[v];
    if (src === 0) continue;
    const o = (v + 1) * C;
    const so = src * C;
    for (let c = 0; c < C; c++) V[o + c] += w * S[so + c];
    D[v + 1] += N[src];
  }
}

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

/** The `count` guides nearest to the target in frame index (age 0 = nearest). */
function nearest(guides: readonly Guide[], t: number, count: number): Guide[] {
  return [...guides].sort((a, b) => Math.abs(a.index - t) - Math.abs(b.index - t)).slice(0, Math.max(1, count));
}

function scaleFeatures(f: Float32Array, n: number, scales: readonly number[]): Float32Array {
  const out = new Float32Array(scales.length * n);
  for (let j = 0; j < scales.length; j++) {
    const s = scales[j];
    for (let k = 0; k < n; k++) out[j * n + k] = f[j * n + k] * s;
  }
  return out;
}

function normaliseColumns(u: Float32Array, C: number, count: number): void {
  for (let s = 0; s < count; s++) {
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.max(0, u[c * count + s]);
    if (sum <= 0) continue;
    for (let c = 0; c < C; c++) u[c * count + s] = Math.max(0, u[c * count + s]) / sum;
  }
}

/** Raw VPN features (Y, Cb, Cr, x, y, t) of every `stride`-th pixel (6 x count), with the pixel indices. */
function pixelFeatures(frame: RgbFrame, t: number, stride: number): { features: Float32Array; count: number; index: Int32Array } {
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
  return { features, count, index };
}
