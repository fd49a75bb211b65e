/**
 * HDR videos from still HDR images: a virtual camera pans, tilts and zooms over an equirectangular
 * panorama (perspective reprojection) or pans and zooms over a flat HDR photograph (a moving crop),
 * and every frame comes out twice — as linear radiance (the ground truth) and as the 8-bit frame a
 * camera with a fixed exposure and a clipping sRGB curve would record. The HDR propagation
 * benchmark (`bench/hdr-video.ts`) is built on it.
 *
 * Layouts: radiance is `RadianceImage` (interleaved linear RGB `Float32Array`,
 * `data[(y * width + x) * 3 + c]`, in the source image's own units); LDR frames are `RgbFrame`
 * (interleaved 8-bit sRGB).
 *
 * Geometry (continuous pixel coordinates: pixel (x, y) covers [x, x+1) x [y, y+1), its centre is
 * (x + 0.5, y + 0.5)):
 * - Panorama: the camera looks along +z with y up; a point (px, py) of the output is the ray
 *   ((px − W/2)/f, −(py − H/2)/f, 1), f = (W/2)/tan(hfov/2), rotated by roll (about z), then
 *   pitch (about x, positive looks up), then yaw (about y). Longitude lon = atan2(dx, dz), latitude
 *   lat = atan2(dy, hypot(dx, dz)); the panorama is sampled at u = (lon/2π + 0.5)·Wp,
 *   v = (0.5 − lat/π)·Hp (bilinear, wrapping in u, clamped in v).
 * - Photo: output point (px, py) samples the source at (cx + (px − W/2)·s, cy + (py − H/2)·s),
 *   s = source pixels per output pixel (bilinear, clamped at the border).
 * - Anti-aliasing: each output pixel averages n x n sub-pixel samples on a regular grid, n =
 *   ceil(largest source-pixels-per-output-pixel ratio of the clip), 1 to 4.
 *
 * Camera response (the camera of `camera.ts`): code = round(255 · srgbOetf(min(1, exposure · H)))
 * per channel, so radiance at or above 1/exposure clips to 255. Exposure rule, fixed per clip: the
 * `exposurePercentile` quantile (default 0.98) of every pixel's max(R, G, B) over the frames
 * 0, 8, 16, … of the clip maps to 1 (white), so about 2 % of those pixels clip — the highlights,
 * which only the HDR key-frames know.
 *
 * Camera motion (seeded, `hdrCameraPath`): every pose parameter moves from a start to an end value
 * along a shared progress curve w(t) that is smooth and strictly increasing but whose speed varies
 * (w' = 1 + a1 sin(2πu + φ1) + a2 sin(4πu + φ2), normalised, a1 ≤ 0.5, a2 ≤ 0.3), plus a small
 * hand-held shake (three sinusoids of 0.3–2 Hz per axis, at most 0.3° or half an output pixel).
 * Panoramas: a 25–60° pan, up to ±8° of tilt, the field of view (60–80° at the start) zoomed by a
 * factor of e^±0.3 at most; photos: a pan across 15–35 % of the image width (shortened where it
 * would leave the image) and a zoom by e^±0.25 at most, the crop always inside the image. Moving
 * objects are not modelled.
 *
 * Pure TypeScript (no Node module): it runs wherever the synthetic scenes do.
 */
import type { RadianceImage, RgbFrame } from '../core/types.js';
import { Rng } from '../util/rng.js';
import { sourceFromRenderer } from '../video/memory.js';
import type { FrameSource } from '../video/types.js';
import { encodeLinear8 } from './camera.js';

/** A still HDR image and how the camera looks at it. */
export interface HdrStill {
  /** 'panorama': equirectangular, 360° x 180°; 'photo': a flat picture seen through a moving crop. */
  readonly kind: 'panorama' | 'photo';
  /** Identifier used in messages and clip names (e.g. 'blender/courtyard'). */
  readonly name: string;
  /** Linear radiance, interleaved RGB; negative or non-finite values are not allowed (see `sanitizeRadiance`). */
  readonly image: RadianceImage;
  /** Factor applied to the file's values to get `image` (see `normalizeMedianLuminance`); 1 if none. */
  readonly scale?: number;
}

/** Camera looking at a panorama; angles in radians. */
export interface PanoramaPose {
  readonly kind: 'panorama';
  /** Rotation about the vertical axis; 0 looks at the panorama's centre column. */
  readonly yaw: number;
  /** Positive looks up. */
  readonly pitch: number;
  /** Rotation about the viewing axis. */
  readonly roll: number;
  /** Horizontal field of view. */
  readonly hfov: number;
}

/** Crop of a photo: centre in source pixel coordinates, `scale` source pixels per output pixel. */
export interface PhotoPose {
  readonly kind: 'photo';
  readonly cx: number;
  readonly cy: number;
  readonly scale: number;
}

export type CameraPose = PanoramaPose | PhotoPose;

export interface HdrClipOptions {
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  /** Seed of the camera path (ignored when `path` is given). */
  readonly seed?: number;
  /** An explicit camera path (one pose per frame) instead of the seeded one. */
  readonly path?: readonly CameraPose[];
  /** Quantile of max(R,G,B) that maps to white (default 0.98). */
  readonly exposurePercentile?: number;
  /** A fixed exposure instead of the percentile rule. */
  readonly exposure?: number;
  /** Frames per second, for the shake frequencies and the FrameSource (default 30). */
  readonly fps?: number;
  /** Sub-pixel grid size n (n x n samples per pixel); default from the clip's largest zoom ratio. */
  readonly supersample?: number;
}

export interface HdrVideoFrame {
  readonly index: number;
  /** Ground-truth linear radiance. */
  readonly radiance: RadianceImage;
  /** What the camera recorded: 8-bit sRGB, clipped. */
  readonly ldr: RgbFrame;
}

export interface HdrClip {
  readonly name: string;
  readonly still: HdrStill;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly fps: number;
  /** Multiplier applied to radiance before the camera curve (fixed for the clip). */
  readonly exposure: number;
  /** Sub-pixel grid size used. */
  readonly supersample: number;
  readonly path: readonly CameraPose[];
  /** Frame t (rendered on demand; the last few are cached). */
  frame(t: number): HdrVideoFrame;
  /** The LDR frames as a FrameSource (kind 'iterable'), for a session. */
  frameSource(): FrameSource;
}

const DEG = Math.PI / 180;
/** Frames whose radiance sets the exposure: 0, 8, 16, … */
export const EXPOSURE_FRAME_STRIDE = 8;
export const DEFAULT_EXPOSURE_PERCENTILE = 0.98;

// ---------------------------------------------------------------------------------------------
// Camera paths

/**
 * The shared progress curve: w(0) = 0, w(1) = 1, w' = s(u) / ∫s with
 * s(u) = 1 + a1 sin(2πu + φ1) + a2 sin(4πu + φ2) > 0, integrated in closed form.
 */
export function progressCurve(a1: number, phi1: number, a2: number, phi2: number): (u: number) => number {
  if (!(a1 >= 0 && a2 >= 0 && a1 + a2 < 1)) throw new RangeError(`progress curve needs a1, a2 >= 0 and a1 + a2 < 1, got ${a1}, ${a2}`);
  const integral = (u: number) =>
    u +
    (a1 * (Math.cos(phi1) - Math.cos(2 * Math.PI * u + phi1))) / (2 * Math.PI) +
    (a2 * (Math.cos(phi2) - Math.cos(4 * Math.PI * u + phi2))) / (4 * Math.PI);
  const total = integral(1);
  return (u) => integral(u) / total;
}

/** Hand-held shake of one axis: three sinusoids of 0.3–2 Hz with random phases, peak ≤ `amplitude`. */
function shake(rng: Rng, amplitude: number, fps: number): (t: number) => number {
  const parts = [0, 1, 2].map(() => ({ a: rng.range(0.2, 1) * (amplitude / 3), f: rng.range(0.3, 2) / fps, p: rng.range(0, 2 * Math.PI) }));
  return (t) => parts.reduce((s, q) => s + q.a * Math.sin(2 * Math.PI * q.f * t + q.p), 0);
}

export interface CameraPathOptions {
  readonly frames: number;
  readonly seed: number;
  /** Output size (for photos: the crop's aspect ratio and scale). */
  readonly width: number;
  readonly height: number;
  readonly fps?: number;
}

/**
 * A seeded camera path over `still` (module doc: motion model). Deterministic: the same seed and
 * sizes give the same path on every platform.
 */
export function hdrCameraPath(still: HdrStill, opts: CameraPathOptions): CameraPose[] {
  const { frames, width, height } = opts;
  const fps = opts.fps ?? 30;
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`frames must be a positive integer, got ${frames}`);
  const rng = new Rng(opts.seed);
  const w = progressCurve(rng.range(0, 0.5), rng.range(0, 2 * Math.PI), rng.range(0, 0.3), rng.range(0, 2 * Math.PI));
  const progress = (t: number) => (frames === 1 ? 0 : w(t / (frames - 1)));
  const shakeRng = rng.fork(1);
  if (still.kind === 'panorama') {
    const yaw0 = rng.range(-Math.PI, Math.PI);
    const dYaw = rng.sign() * rng.range(25, 60) * DEG;
    const pitch0 = rng.range(-10, 15) * DEG;
    const dPitch = rng.range(-8, 8) * DEG;
    const logFov0 = Math.log(rng.range(60, 80) * DEG);
    const dLogFov = rng.range(-0.3, 0.3);
    const sYaw = shake(shakeRng, 0.3 * DEG, fps);
    const sPitch = shake(shakeRng, 0.3 * DEG, fps);
    const sRoll = shake(shakeRng, 0.3 * DEG, fps);
    return Array.from({ length: frames }, (_, t) => {
      const p = progress(t);
      return {
        kind: 'panorama' as const,
        yaw: yaw0 + dYaw * p + sYaw(t),
        pitch: pitch0 + dPitch * p + sPitch(t),
        roll: sRoll(t),
        hfov: Math.exp(logFov0 + dLogFov * p),
      };
    });
  }
  const { width: sw, height: sh } = still.image;
  // Largest crop that fits: 90 % of the image in its limiting dimension.
  const fitScale = 0.9 * Math.min(sw / width, sh / height);
  const scale0 = fitScale * rng.range(0.55, 0.85);
  const scale1 = Math.min(fitScale, scale0 * Math.exp(rng.range(-0.25, 0.25)));
  const maxScale = Math.max(scale0, scale1);
  const shakeAmp = 0.5 * maxScale; // half an output pixel, in source pixels
  // Centres for which the largest crop (plus the shake) stays inside: a convex range, so every
  // interpolated centre is inside too.
  const hx = (width / 2) * maxScale + shakeAmp;
  const hy = (height / 2) * maxScale + shakeAmp;
  const cx0 = rng.range(hx, sw - hx);
  const cy0 = rng.range(hy, sh - hy);
  // End point: 15–35 % of the image width away in a random direction, pulled back inside.
  const dist = rng.range(0.15, 0.35) * sw;
  const angle = rng.range(0, 2 * Math.PI);
  const cx1 = Math.min(sw - hx, Math.max(hx, cx0 + dist * Math.cos(angle)));
  const cy1 = Math.min(sh - hy, Math.max(hy, cy0 + dist * Math.sin(angle)));
  const sx = shake(shakeRng, shakeAmp, fps);
  const sy = shake(shakeRng, shakeAmp, fps);
  return Array.from({ length: frames }, (_, t) => {
    const p = progress(t);
    return {
      kind: 'photo' as const,
      cx: cx0 + (cx1 - cx0) * p + sx(t),
      cy: cy0 + (cy1 - cy0) * p + sy(t),
      scale: Math.exp(Math.log(scale0) + (Math.log(scale1) - Math.log(scale0)) * p),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** Source pixels per output pixel at the image centre (the zoom ratio that sets the anti-aliasing). */
export function sourcePixelsPerOutputPixel(still: HdrStill, pose: CameraPose, width: number): number {
  if (pose.kind === 'photo') return pose.scale;
  const f = width / 2 / Math.tan(pose.hfov / 2);
  return still.image.width / (2 * Math.PI) / f;
}

function checkPose(still: HdrStill, pose: CameraPose): void {
  if (pose.kind !== still.kind) throw new RangeError(`${still.name} is a ${still.kind}; a ${pose.kind} pose cannot look at it`);
}

/**
 * Render one view of `still` as linear radiance (module doc: geometry, anti-aliasing).
 * @param n sub-pixel grid size (n x n samples per pixel)
 */
export function renderHdrView(still: HdrStill, pose: CameraPose, width: number, height: number, n = 1): RadianceImage {
  checkPose(still, pose);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`supersample must be a positive integer, got ${n}`);
  const out = new Float32Array(width * height * 3);
  const src = still.image.data;
  const sw = still.image.width;
  const sh = still.image.height;
  const acc = [0, 0, 0];
  // Bilinear sample at continuous source coordinates (u, v) (pixel centres at k + 0.5), added to acc.
  const sample = (u: number, v: number, wrap: boolean) => {
    const x = u - 0.5;
    const y = Math.min(sh - 1, Math.max(0, v - 0.5));
    let x0 = Math.floor(x);
    const fx = x - x0;
    let x1 = x0 + 1;
    if (wrap) {
      x0 = ((x0 % sw) + sw) % sw;
      x1 = ((x1 % sw) + sw) % sw;
    } else {
      x0 = Math.min(sw - 1, Math.max(0, x0));
      x1 = Math.min(sw - 1, Math.max(0, x1));
    }
    const y0 = Math.floor(y);
    const fy = y - y0;
    const y1 = Math.min(sh - 1, y0 + 1);
    const i00 = (y0 * sw + x0) * 3;
    const i01 = (y0 * sw + x1) * 3;
    const i10 = (y1 * sw + x0) * 3;
    const i11 = (y1 * sw + x1) * 3;
    const w00 = (1 - fx) * (1 - fy);
    const w01 = fx * (1 - fy);
    const w10 = (1 - fx) * fy;
    const w11 = fx * fy;
    for (let c = 0; c < 3; c++) acc[c] += w00 * src[i00 + c] + w01 * src[i01 + c] + w10 * src[i10 + c] + w11 * src[i11 + c];
  };
  const inv = 1 / (n * n);
  if (pose.kind === 'photo') {
    const { cx, cy, scale } = pose;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        acc[0] = acc[1] = acc[2] = 0;
        for (let j = 0; j < n; j++) {
          const v = cy + (y + (j + 0.5) / n - height / 2) * scale;
          for (let i = 0; i < n; i++) sample(cx + (x + (i + 0.5) / n - width / 2) * scale, v, false);
        }
        const o = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) out[o + c] = acc[c] * inv;
      }
    }
    return { width, height, data: out };
  }
  const f = width / 2 / Math.tan(pose.hfov / 2);
  const [cr, sr] = [Math.cos(pose.roll), Math.sin(pose.roll)];
  const [cp, sp] = [Math.cos(pose.pitch), Math.sin(pose.pitch)];
  const [cyw, syw] = [Math.cos(pose.yaw), Math.sin(pose.yaw)];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      acc[0] = acc[1] = acc[2] = 0;
      for (let j = 0; j < n; j++) {
        const yc = -(y + (j + 0.5) / n - height / 2) / f;
        for (let i = 0; i < n; i++) {
          const xc = (x + (i + 0.5) / n - width / 2) / f;
          // roll about z
          const x1 = cr * xc - sr * yc;
          const y1 = sr * xc + cr * yc;
          // pitch about x (positive: the optical axis (0,0,1) turns towards +y)
          const y2 = cp * y1 + sp;
          const z2 = -sp * y1 + cp;
          // yaw about y (positive: the optical axis turns towards +x)
          const dx = cyw * x1 + syw * z2;
          const dz = -syw * x1 + cyw * z2;
          const lon = Math.atan2(dx, dz);
          const lat = Math.atan2(y2, Math.hypot(dx, dz));
          sample((lon / (2 * Math.PI) + 0.5) * sw, (0.5 - lat / Math.PI) * sh, true);
        }
      }
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = acc[c] * inv;
    }
  }
  return { width, height, data: out };
}

/** The camera: `code = encodeLinear8(exposure · H)` per channel (sRGB curve, clipped at 1). */
export function exposeLdr(radiance: RadianceImage, exposure: number): RgbFrame {
  const { width, height, data } = radiance;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = encodeLinear8(exposure * data[i]);
  return { width, height, data: out };
}

/**
 * The p-quantile of max(R, G, B) over the pixels of `frames`: the sorted values' element
 * floor(p · (N − 1)). The exposure rule maps it to 1.
 */
export function maxChannelQuantile(frames: readonly RadianceImage[], p: number): number {
  if (!(p > 0 && p <= 1)) throw new RangeError(`exposure percentile must be in (0, 1], got ${p}`);
  let total = 0;
  for (const f of frames) total += f.data.length / 3;
  const values = new Float32Array(total);
  let k = 0;
  for (const f of frames) {
    const d = f.data;
    for (let i = 0; i < d.length; i += 3) values[k++] = Math.max(d[i], d[i + 1], d[i + 2]);
  }
  values.sort();
  return values[Math.floor(p * (total - 1))];
}

/**
 * Replace what a camera could not have recorded: negative values (half-float decoders of real
 * photographs produce small ones) and NaN become 0, +Infinity becomes the half-float maximum
 * 65504. Returns a new image; finite non-negative values are unchanged.
 */
export function sanitizeRadiance(image: RadianceImage): RadianceImage {
  const data = new Float32Array(image.data.length);
  for (let i = 0; i < data.length; i++) {
    const v = image.data[i];
    data[i] = v > 0 ? Math.min(v, 65504) : 0;
  }
  return { width: image.width, height: image.height, data };
}

/** Middle grey: the median luminance `normalizeMedianLuminance` gives every still image. */
export const MEDIAN_LUMINANCE = 0.18;

/**
 * Scale an image so that the median of its pixels' Rec. 709 luminance is `target` (0.18, middle
 * grey). Why: HDR files come in arbitrary units (the held-out ones have medians from 0.05 to 0.5,
 * two training photographs 3e-4), while the HDR property log(H + 0.01) and the metrics have an
 * absolute offset; after this, 0.01 means the same on every image (about 4 stops below its middle
 * grey). Returns the scaled copy and the factor; an image whose median is 0 is returned unscaled.
 */
export function normalizeMedianLuminance(image: RadianceImage, target = MEDIAN_LUMINANCE): { image: RadianceImage; scale: number } {
  const d = image.data;
  const lum = new Float32Array(d.length / 3);
  for (let i = 0; i < lum.length; i++) lum[i] = 0.2126 * d[3 * i] + 0.7152 * d[3 * i + 1] + 0.0722 * d[3 * i + 2];
  lum.sort();
  const m = lum.length % 2 ? lum[lum.length >> 1] : (lum[(lum.length >> 1) - 1] + lum[lum.length >> 1]) / 2;
  if (!(m > 0)) return { image, scale: 1 };
  const scale = target / m;
  return { image: { width: image.width, height: image.height, data: Float32Array.from(d, (v) => v * scale) }, scale };
}

/** Build a clip: the camera path (seeded or given), the exposure (rule or given), frames on demand. */
export function createHdrClip(still: HdrStill, opts: HdrClipOptions): HdrClip {
  const { width, height, frames } = opts;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`clip size must be positive integers, got ${width}x${height}`);
  const fps = opts.fps ?? 30;
  const path = opts.path ? [...opts.path] : hdrCameraPath(still, { frames, seed: opts.seed ?? 0, width, height, fps });
  if (path.length !== frames) throw new RangeError(`the path has ${path.length} poses for ${frames} frames`);
  for (const pose of path) checkPose(still, pose);
  const supersample =
    opts.supersample ??
    Math.min(4, Math.max(1, Math.ceil(Math.max(...path.map((p) => sourcePixelsPerOutputPixel(still, p, width))) - 1e-9)));
  const render = (t: number) => renderHdrView(still, path[t], width, height, supersample);
  let exposure = opts.exposure;
  if (exposure === undefined) {
    const sampled: RadianceImage[] = [];
    for (let t = 0; t < frames; t += EXPOSURE_FRAME_STRIDE) sampled.push(render(t));
    const q = maxChannelQuantile(sampled, opts.exposurePercentile ?? DEFAULT_EXPOSURE_PERCENTILE);
    if (!(q > 0)) throw new RangeError(`${still.name}: the exposure quantile of the clip is ${q}; the clip is black`);
    exposure = 1 / q;
  }
  if (!(exposure > 0 && Number.isFinite(exposure))) throw new RangeError(`exposure must be positive and finite, got ${exposure}`);
  const fixedExposure = exposure;
  // The session and the scoring ask for the same frames close together: keep the last few.
  const cache = new Map<number, HdrVideoFrame>();
  const frame = (t: number): HdrVideoFrame => {
    if (!Number.isInteger(t) || t < 0 || t >= frames) throw new RangeError(`frame ${t} is outside 0..${frames - 1}`);
    const hit = cache.get(t);
    if (hit) return hit;
    const radiance = render(t);
    const f = { index: t, radiance, ldr: exposeLdr(radiance, fixedExposure) };
    cache.set(t, f);
    if (cache.size > 8) cache.delete(cache.keys().next().value as number);
    return f;
  };
  const name = `${still.name}#${opts.path ? 'path' : `seed${opts.seed ?? 0}`}`;
  return {
    name,
    still,
    width,
    height,
    frames,
    fps,
    exposure: fixedExposure,
    supersample,
    path,
    frame,
    frameSource: () => sourceFromRenderer(frames, (t) => frame(t).ldr, { origin: `HDR clip ${name}`, fps }),
  };
}
