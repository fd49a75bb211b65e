/**
 * What the LDR frame itself says about radiance: per-frame inverse tone mapping, the exposure
 * scale between an LDR frame and a radiance estimate, and two ways to put the LDR frame's own
 * measurement into a propagated HDR frame — the STPN seed's "LDR blending above a threshold"
 * (a weighted blend where the frame is well exposed; the rule below is ours, the paper gives
 * none) and a parameter-free projection onto the set of radiances the frame allows.
 *
 * Camera model assumed: 8-bit sRGB-encoded, linear in radiance up to a clip, code =
 * round(255 · srgbOetf(min(1, e · H))) with an unknown exposure e (the bench's camera,
 * `synth/camera.ts`). Inverse: H = srgbToLinear(code / 255) / e; code 255 only says H ≥ 1/e and is
 * mapped to 1/e (the curve's maximum).
 *
 * Well-exposed rule (WellExposedRule, defaults low 16, high 250, ramp 16), per channel: a code c
 * is trusted with t(c) = clamp(min(c − low, high − c) / ramp, 0, 1) — 0 at or below `low` and at
 * or above `high`, 1 between low + ramp and high − ramp, linear in between. Each channel is judged
 * by its own code: a saturated colour (blue sky: red and green near 0) keeps its good channels
 * (judging a pixel by its worst channel discarded 25–55 % of the pixels of an outdoor clip).
 * Why these numbers (chosen from the curve, not tuned on the benchmark):
 * - high 250: five codes of margin below the clip, because real cameras roll off before clipping
 *   and lossy codecs spread clipped values into their neighbours (for the bench's synthetic camera
 *   any code below 255 is exact, so the margin costs a little there);
 * - low 16: below it one 8-bit step changes the linear value by more than 8 % (2.4 / (c + 14) per
 *   code on the sRGB curve);
 * - ramp 16: the weight fades in over 16 codes so that where propagated and measured radiance
 *   meet (the edge of a highlight) there is no hard seam.
 *
 * Exposure estimate: the median, over every channel with t = 1 and positive values on both sides,
 * of ln(srgbToLinear(code/255)) − ln(H_reference); e = exp(median). The median makes it robust to
 * the places where the reference (a propagated frame) is wrong.
 *
 * Blend (in the property domain, log(H + 0.01), where engines work), per channel:
 * out = t · log(H_ldr + 0.01) + (1 − t) · property, H_ldr = srgbToLinear(code/255) / e.
 * Clipped and dark channels keep the propagated value; well-exposed ones take the measurement.
 *
 * Projection (`constrainToLdr`, no parameter besides e): code c of the rounding camera says
 * e · H lies in [srgbToLinear((c − ½)/255), srgbToLinear((c + ½)/255)) — [0, …) for c = 0 and
 * [srgbToLinear(254.5/255), ∞) for c = 255 — so each propagated value is clamped into its
 * interval: exact where the frame is well exposed (the interval is narrow), a bound where it is
 * dark or clipped (a propagated highlight never falls below the clip level). It trusts the camera
 * model exactly; noise or compression would need the intervals widened.
 *
 * Layouts: property maps planar (C x H x W, C = 3), radiance and frames interleaved RGB.
 */
import type { PropertyMap, RadianceImage, RgbFrame } from '../../core/types.js';
import { srgbToLinear } from '../../formats/color.js';
import { HDR_LOG_EPSILON, propertyToRadiance, radianceToProperty } from './radiance.js';

export interface WellExposedRule {
  /** Codes at or below this are too dark to trust (weight 0). */
  readonly low: number;
  /** Codes at or above this may be clipped (weight 0). */
  readonly high: number;
  /** Codes over which the weight rises from 0 to 1 at each end. */
  readonly ramp: number;
}

export const DEFAULT_WELL_EXPOSED: WellExposedRule = { low: 16, high: 250, ramp: 16 };

/** Linear value of each 8-bit sRGB code: srgbToLinear(code / 255). */
const LINEAR_OF_CODE = Float64Array.from({ length: 256 }, (_, c) => srgbToLinear(c / 255));

function checkRule(rule: WellExposedRule): void {
  const { low, high, ramp } = rule;
  if (!(ramp > 0) || !(low >= 0) || !(high <= 255) || !(high - low >= 2 * ramp))
    throw new RangeError(`well-exposed rule needs 0 <= low, high <= 255, ramp > 0 and high - low >= 2 ramp, got ${JSON.stringify(rule)}`);
}

/** Trust of one channel code (module doc). */
export function channelTrust(code: number, rule: WellExposedRule = DEFAULT_WELL_EXPOSED): number {
  const t = Math.min(code - rule.low, rule.high - code) / rule.ramp;
  return Math.max(0, Math.min(1, t));
}

/** Per-channel weights, interleaved like the frame (`3 n` values in [0, 1]). */
export function wellExposedWeights(ldr: RgbFrame, rule: WellExposedRule = DEFAULT_WELL_EXPOSED): Float32Array {
  checkRule(rule);
  const table = Float32Array.from({ length: 256 }, (_, c) => channelTrust(c, rule));
  const d = ldr.data;
  const w = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) w[i] = table[d[i]];
  return w;
}

/**
 * Per-frame inverse tone mapping: H = srgbToLinear(code/255) / exposure per channel; clipped codes
 * (255) give the curve's maximum 1/exposure.
 */
export function ldrToRadiance(ldr: RgbFrame, exposure = 1): RadianceImage {
  checkExposure(exposure);
  const d = ldr.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = LINEAR_OF_CODE[d[i]] / exposure;
  return { width: ldr.width, height: ldr.height, data: out };
}

function checkSizes(a: { width: number; height: number }, ldr: RgbFrame): void {
  if (a.width !== ldr.width || a.height !== ldr.height)
    throw new RangeError(`size mismatch: radiance ${a.width}x${a.height}, LDR frame ${ldr.width}x${ldr.height}`);
}

function median(values: Float64Array): number {
  const s = values.sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Exposure e such that the LDR frame ≈ curve(e · reference), from the well-exposed pixels
 * (module doc). Undefined when no pixel qualifies (an all-clipped or all-dark frame).
 * @param reference linear radiance (a key-frame's ground truth or a propagated estimate)
 */
export function estimateExposure(
  ldr: RgbFrame,
  reference: RadianceImage,
  rule: WellExposedRule = DEFAULT_WELL_EXPOSED,
): number | undefined {
  checkSizes(reference, ldr);
  const w = wellExposedWeights(ldr, rule);
  const d = ldr.data;
  const h = reference.data;
  const logs = new Float64Array(d.length);
  let k = 0;
  for (let i = 0; i < w.length; i++) {
    if (w[i] === 1 && h[i] > 0) logs[k++] = Math.log(LINEAR_OF_CODE[d[i]]) - Math.log(h[i]);
  }
  return k === 0 ? undefined : Math.exp(median(logs.subarray(0, k)));
}

export interface LdrBlendOptions {
  readonly rule?: WellExposedRule;
  /** A known exposure instead of the estimate. */
  readonly exposure?: number;
}

export interface LdrBlendResult<T> {
  readonly result: T;
  /** The exposure used; undefined when none could be estimated (the input is returned unchanged). */
  readonly exposure: number | undefined;
  /**
   * Blend: mean weight over all channels of the frame (the share the LDR measurement decided);
   * projection: the share of values that were clamped. 0 when no exposure was available.
   */
  readonly meanWeight: number;
}

/**
 * Blend an HDR property map (planar log(H + 0.01), 3 channels) with the LDR frame where it is well
 * exposed (module doc). The exposure is estimated against the property's own radiance unless
 * given. Pure; returns a new map (confidence kept).
 */
export function blendLdrIntoProperty(property: PropertyMap, ldr: RgbFrame, opts: LdrBlendOptions = {}): LdrBlendResult<PropertyMap> {
  if (property.channels !== 3) throw new RangeError(`an HDR property map has 3 channels, got ${property.channels}`);
  checkSizes(property, ldr);
  const rule = opts.rule ?? DEFAULT_WELL_EXPOSED;
  const exposure = opts.exposure ?? estimateExposure(ldr, propertyToRadiance(property), rule);
  const w = wellExposedWeights(ldr, rule);
  const n = property.width * property.height;
  const data = property.data.slice();
  let sum = 0;
  if (exposure !== undefined) {
    checkExposure(exposure);
    const logOfCode = Float64Array.from(LINEAR_OF_CODE, (v) => Math.log(v / exposure + HDR_LOG_EPSILON));
    const d = ldr.data;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const wi = w[3 * i + c];
        sum += wi;
        if (wi > 0) data[c * n + i] = wi * logOfCode[d[3 * i + c]] + (1 - wi) * data[c * n + i];
      }
    }
  }
  return {
    result: { width: property.width, height: property.height, channels: 3, data, confidence: property.confidence?.slice() },
    exposure,
    meanWeight: sum / (3 * n),
  };
}

/** Bounds of e · H for each code under the rounding camera (module doc: projection). */
const CODE_LOWER = Float64Array.from({ length: 256 }, (_, c) => (c === 0 ? 0 : srgbToLinear((c - 0.5) / 255)));
const CODE_UPPER = Float64Array.from({ length: 256 }, (_, c) => (c === 255 ? Number.POSITIVE_INFINITY : srgbToLinear((c + 0.5) / 255)));

/**
 * Clamp every value of an HDR property map (planar log(H + 0.01)) into the interval of radiances
 * its LDR code allows (module doc: projection). The exposure is estimated against the property's
 * own radiance unless given; without one the map is returned unchanged. `meanWeight` is the
 * share of values that had to move.
 */
export function constrainToLdr(property: PropertyMap, ldr: RgbFrame, opts: LdrBlendOptions = {}): LdrBlendResult<PropertyMap> {
  if (property.channels !== 3) throw new RangeError(`an HDR property map has 3 channels, got ${property.channels}`);
  checkSizes(property, ldr);
  const exposure = opts.exposure ?? estimateExposure(ldr, propertyToRadiance(property), opts.rule ?? DEFAULT_WELL_EXPOSED);
  const n = property.width * property.height;
  const data = property.data.slice();
  let moved = 0;
  if (exposure !== undefined) {
    checkExposure(exposure);
    const lower = Float64Array.from(CODE_LOWER, (v) => Math.log(v / exposure + HDR_LOG_EPSILON));
    const upper = Float64Array.from(CODE_UPPER, (v) => Math.log(v / exposure + HDR_LOG_EPSILON));
    const d = ldr.data;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const code = d[3 * i + c];
        const v = data[c * n + i];
        const lo = lower[code];
        const hi = upper[code];
        if (v < lo) {
          data[c * n + i] = lo;
          moved++;
        } else if (v > hi) {
          data[c * n + i] = hi;
          moved++;
        }
      }
    }
  }
  return {
    result: { width: property.width, height: property.height, channels: 3, data, confidence: property.confidence?.slice() },
    exposure,
    meanWeight: moved / (3 * n),
  };
}

/** `constrainToLdr` on linear radiance (interleaved RGB in, interleaved RGB out). */
export function constrainRadianceToLdr(radiance: RadianceImage, ldr: RgbFrame, opts: LdrBlendOptions = {}): LdrBlendResult<RadianceImage> {
  const r = constrainToLdr(radianceToProperty(radiance), ldr, opts);
  return { result: propertyToRadiance(r.result), exposure: r.exposure, meanWeight: r.meanWeight };
}

function checkExposure(exposure: number): void {
  if (!(exposure > 0 && Number.isFinite(exposure))) throw new RangeError(`exposure must be positive and finite, got ${exposure}`);
}

/** `blendLdrIntoProperty` on linear radiance (interleaved RGB in, interleaved RGB out). */
export function blendLdrIntoRadiance(radiance: RadianceImage, ldr: RgbFrame, opts: LdrBlendOptions = {}): LdrBlendResult<RadianceImage> {
  const r = blendLdrIntoProperty(radianceToProperty(radiance), ldr, opts);
  return { result: propertyToRadiance(r.result), exposure: r.exposure, meanWeight: r.meanWeight };
}
