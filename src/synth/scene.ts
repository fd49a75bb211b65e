/**
 * Synthetic scenes with exact ground truth: a textured background plane seen by a slowly moving
 * affine camera, and textured objects with smooth outlines moving with affine motion in front of
 * it. Every pose, colour change and depth is a closed-form function of the frame index, so any
 * frame renders on its own (random access, bounded memory, any video length).
 *
 * Scene model (all in image pixels unless noted):
 * - Background: a world plane, periodic along world x (so the camera can pan forever), split at
 *   world y = `horizon` into sky (above, class 1) and ground (below, class 0) when `sky` is on.
 *   Camera: `image = centre + s R(theta) (world - w0(t))`, w0 = linear pan + sinusoids.
 * - Object k (id k = 1..K): outline `Shape` in local units, `image = c(t) + R(angle(t))
 *   diag(sx(t), sy(t)) local`. Centre paths are sums of sinusoids; the first `exitObjects` objects
 *   instead sweep along one axis as `x0 - A cos(2 pi t / P)` so that they leave the image
 *   completely around t = P/2 and come back (P = clamp(frames, 40, 160) frames at speed 1).
 * - Depth: `depth_k(t) = base_k + 0.45 sin(w t + phi)` with bases 0.35 apart, so the front-to-back
 *   order changes now and then.
 * - Appearance: each surface (background, objects) is multiplied by a `gain(t) R_hue(t)` colour
 *   matrix drifting by at most ~0.5% per frame.
 */

import type { LabelImage, RgbFrame } from '../core/types.js';
import { Rng } from '../util/rng.js';
import { gainHueMatrix, hsvToLinear } from './camera.js';
import { type Affine, FrameGeometry, makeShape, type ObjectPose, SHAPE_FAMILIES, type Shape, type ShapeFamily } from './geometry.js';
import { fbmGrid, smoothstep } from './noise.js';
import { renderFrame } from './render.js';
import { Texture } from './texture.js';

export interface SceneOptions {
  /** Seed (uint32; other integers are taken modulo 2^32). Every pixel is a function of it. */
  readonly seed: number;
  /** Frame width in pixels, default 320. */
  readonly width?: number;
  /** Frame height in pixels, default 240. */
  readonly height?: number;
  /** Number of frames, default 60. */
  readonly frames?: number;
  /** Frames per second reported in `info` (no effect on content), default 30. */
  readonly fps?: number;
  /** Number of objects K (ids 1..K), 0..255, default 3. */
  readonly objects?: number;
  /**
   * Number of semantic classes C including the background classes. Default: the background
   * classes plus min(K, 4). Objects get classes round-robin from the first object class; the
   * class decides the outline family and texture pattern, so same-class objects look alike.
   */
  readonly classes?: number;
  /** Split the background into ground (class 0) and sky (class 1), default true. */
  readonly sky?: boolean;
  /** Add emissive light sources and report linear `radiance`, default false. */
  readonly hdr?: boolean;
  /** Exposure multiplying radiance before the camera response, default 1. */
  readonly exposure?: number;
  /** Number of lamps on the ground in HDR mode (a sun is added when `sky`), default 4. */
  readonly lights?: number;
  /** How many objects (ids 1..n) leave the image and come back, default min(1, K). */
  readonly exitObjects?: number;
  /** Time scale of all motion and appearance change (0 freezes the scene), default 1. */
  readonly speed?: number;
  /** Scale of the brightness/hue drift (0 = constant appearance), default 1. */
  readonly appearanceDrift?: number;
}

export interface SceneInfo {
  readonly seed: number;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly fps: number;
  /** Number of objects K; object ids are 1..K, 0 is background. */
  readonly objects: number;
  /** Number of semantic classes C; class ids are 0..C-1. */
  readonly classes: number;
  /** Name of each class id: 'ground' (or 'background' without sky), 'sky', then outline families. */
  readonly classNames: readonly string[];
  /** Class id of object id k at index k - 1. */
  readonly objectClasses: readonly number[];
  /** First class id used by objects (2 with sky, else 1). */
  readonly firstObjectClass: number;
  readonly sky: boolean;
  readonly hdr: boolean;
  readonly exposure: number;
  /** Number of ground lamps (HDR only; 0 otherwise has no effect). */
  readonly lights: number;
  readonly exitObjects: number;
  /** Period of the exit-and-return sweep in frames at speed 1 (frames / speed otherwise): clamp(frames, 40, 160). */
  readonly exitPeriod: number;
  readonly speed: number;
  readonly appearanceDrift: number;
  /** Camera response applied to `exposure * radiance`, see `camera.ts`. */
  readonly cameraResponse: 'srgb-clip';
}

/** Where one object is in one frame. */
export interface ObjectState {
  readonly id: number;
  readonly classId: number;
  readonly pose: ObjectPose;
  /** 0 for the front-most object, K-1 for the farthest. */
  readonly depthRank: number;
  /** Conservative bounding box `[x0, y0, x1, y1]` of the whole outline, may extend past the image. */
  readonly bbox: readonly [number, number, number, number];
  /** Area of the whole outline in pixels^2 (analytic, ignoring occlusion and the image border). */
  readonly area: number;
  /** Number of pixels labelled with this id (visible, front-most, inside the image). */
  readonly pixels: number;
}

/**
 * One rendered frame. `rgb`, `labels`, `classes`, `radiance` and `objects` come from one pass;
 * `grey`, `flow`, `occlusion`, `forwardFlow` and `forwardOcclusion` are computed on first access.
 */
export interface SyntheticFrame {
  readonly index: number;
  readonly width: number;
  readonly height: number;
  /** The video frame: 8-bit sRGB, interleaved `data[(y * W + x) * 3 + c]`. Also the colour ground truth. */
  readonly rgb: RgbFrame;
  /** Object id of the front-most surface at each pixel centre, `data[y * W + x]`, 0 = background. */
  readonly labels: LabelImage;
  /** Semantic class id per pixel, `data[y * W + x]` (0 ground/background, 1 sky, objects by class). */
  readonly classes: LabelImage;
  /** Luma `Y = round(0.299 R + 0.587 G + 0.114 B)` (ties up) of `rgb` (full-range YCbCr Y), `data[y * W + x]`. */
  readonly grey: LabelImage;
  /**
   * HDR only (else undefined): linear scene radiance, interleaved RGB `data[(y * W + x) * 3 + c]`.
   * `rgb` is exactly `round(255 * srgbOetf(clamp(exposure * radiance, 0, 1)))`.
   */
  readonly radiance: Float32Array | undefined;
  /** Per object id k at index k - 1. */
  readonly objects: readonly ObjectState[];
  /** The exact geometry behind this frame (visibility queries, poses, camera). */
  readonly geometry: FrameGeometry;
  /**
   * Backward flow, planar 2 x H x W: `flow[y * W + x]` = dy, `flow[H * W + y * W + x]` = dx; the
   * surface point at pixel (y, x) of this frame was at (y + dy, x + dx) in frame t - 1 (for
   * t = 0: the virtual frame -1 of the same closed-form motion).
   */
  readonly flow: Float32Array;
  /**
   * 1 where the surface point at the pixel was not visible in frame t - 1 (hidden by another
   * surface, or outside the image, i.e. (x + dx, y + dy) outside [-0.5, W - 0.5) x [-0.5, H - 0.5)),
   * 0 where it was visible. `data[y * W + x]`.
   */
  readonly occlusion: Uint8Array;
  /** Forward flow to frame t + 1, same layout: pixel (y, x) moves to (y + dy, x + dx). */
  readonly forwardFlow: Float32Array;
  /** 1 where the pixel's surface point is not visible in frame t + 1. */
  readonly forwardOcclusion: Uint8Array;
  /** Binary mask (1 inside) of object `id`: `data[y * W + x]`. */
  objectMask(id: number): Uint8Array;
}

export interface SyntheticScene extends AsyncIterable<SyntheticFrame> {
  readonly info: SceneInfo;
  /** Render frame t, 0 <= t < frames. Independent of any other call (random access). */
  render(t: number): SyntheticFrame;
  /** Geometry of frame t; any integer t (frames outside [0, frames) are virtual, same motion). */
  geometry(t: number): FrameGeometry;
  /** Render frames from..to-1 in order (defaults: the whole scene), one at a time. */
  frames(from?: number, to?: number): AsyncIterable<SyntheticFrame>;
}

/** One sinusoid `amp * sin(omega * tau + phase)`. */
interface Wave {
  readonly amp: number;
  readonly omega: number;
  readonly phase: number;
}

function wave(w: Wave, tau: number): number {
  return w.amp * Math.sin(w.omega * tau + w.phase);
}

function randWave(rng: Rng, amp: number, minPeriod: number, maxPeriod: number): Wave {
  return { amp, omega: (2 * Math.PI) / rng.range(minPeriod, maxPeriod), phase: rng.range(0, 2 * Math.PI) };
}

interface ObjectModel {
  readonly id: number;
  readonly classId: number;
  readonly shape: Shape;
  readonly texture: Texture;
  /** Pixels per local unit at rest. */
  readonly size: number;
  readonly baseX: number;
  readonly baseY: number;
  readonly pathX: readonly Wave[];
  readonly pathY: readonly Wave[];
  /** Exit sweep overriding one axis: coordinate `x0 - amp cos(2 pi tau / period + phase)` (mirrored when `mirror`). */
  readonly exit: { axis: 'x' | 'y'; mirror: boolean; x0: number; amp: number; period: number; phase: number } | undefined;
  readonly angle0: number;
  readonly spin: number;
  readonly wobble: Wave;
  readonly scale: Wave;
  readonly aspect: Wave;
  readonly depthBase: number;
  readonly depth: Wave;
  readonly gain: Wave;
  readonly hue: Wave;
}

/** Largest relative growth of the outline from `scale` and `aspect` (amplitudes 0.15 and 0.06). */
const MAX_GROWTH = 1.15 * 1.06;

/** Diffuse radiance level the light sources are scaled against (typical linear albedo). */
const DIFFUSE_LEVEL = 0.25;

/** The closed-form scene; `render.ts` turns it into pixels. Internal: use `createScene`. */
export class SceneModel {
  readonly info: SceneInfo;
  readonly objects: readonly ObjectModel[];
  readonly ground: Texture;
  readonly skyTexture: Texture | undefined;
  /** World y of the horizon: world points with y < horizon are sky (when `sky`). */
  readonly horizon: number;
  private readonly cam: { x0: number; vx: number; panX: Wave; panY: Wave; roll: Wave; zoom: Wave; gain: Wave; hue: Wave };

  constructor(opts: SceneOptions) {
    this.info = validate(opts);
    const { width: W, height: H, objects: K } = this.info;
    const root = new Rng(this.info.seed);
    const m = Math.min(W, H);
    const unit = m / 240; // motion amplitudes are tuned at 240 lines and scale with the frame

    // Camera: slow pan, small sinusoidal shake, roll and zoom.
    const cr = root.fork(1);
    this.cam = {
      x0: cr.range(0, 4096),
      vx: cr.sign() * cr.range(0.3, 1.0) * unit,
      panX: randWave(cr, 0.03 * W, 120, 300),
      panY: randWave(cr, 0.04 * H, 120, 300),
      roll: randWave(cr, cr.range(0.01, 0.03), 150, 300),
      zoom: randWave(cr, cr.range(0.02, 0.05), 150, 300),
      gain: randWave(cr, cr.range(0.02, 0.05) * this.info.appearanceDrift, 150, 300),
      hue: randWave(cr, cr.range(0.02, 0.05) * this.info.appearanceDrift, 150, 300),
    };

    // Background tiles: periodic along x, covering every world y the camera can see.
    const br = root.fork(2);
    // Above 480 lines the background texel grows with the frame, so tile memory stays bounded
    // (about 13 MB at 1080p) and the background looks the same at every large resolution.
    const texel = Math.max(1, m / 480);
    const tileW = Math.max(256, 2 ** Math.ceil(Math.log2((1.2 * W) / texel)));
    const period = tileW * texel; // world period along x
    const reach = Math.ceil(Math.hypot(W, H) / 2 / 0.94) + 3; // zoom >= 0.95: the view is at most this far from w0
    const yTop = Math.floor(-0.04 * H - reach);
    const yBottom = Math.ceil(0.04 * H + reach);
    this.horizon = -H * (0.5 - br.range(0.3, 0.42));
    const groundTop = this.info.sky ? Math.floor(this.horizon) - 2 : yTop;
    this.ground = new Texture(tileW, Math.ceil((yBottom - groundTop) / texel) + 1, 0, groundTop, texel, true);
    fillGround(this.ground, br, (br.range(24, 40) * (m / 240)) / texel);
    if (this.info.sky) {
      const skyBottom = Math.ceil(this.horizon) + 2;
      this.skyTexture = new Texture(tileW, Math.ceil((skyBottom - yTop) / texel) + 1, 0, yTop, texel, true);
      fillSky(this.skyTexture, br, H, this.horizon);
    }

    // Objects.
    const exitPeriod = this.info.exitPeriod;
    const objects: ObjectModel[] = [];
    const depthPerm = root.fork(3).permutation(K);
    const lr = root.fork(4); // lights: a separate stream so HDR on/off leaves the rest unchanged
    const hueOffset = root.fork(5).next();
    for (let k = 1; k <= K; k++) {
      const r = root.fork(100 + k);
      const classId = this.info.objectClasses[k - 1];
      const family = SHAPE_FAMILIES[(classId - this.info.firstObjectClass) % SHAPE_FAMILIES.length];
      const shape = makeShape(family, shapeParams(family, r));
      const size = m * r.range(0.085, 0.13);
      const pathX = [randWave(r, W * r.range(0.12, 0.22), 60, 150), randWave(r, W * r.range(0.02, 0.05), 20, 40)];
      const pathY = [randWave(r, H * r.range(0.08, 0.16), 60, 150), randWave(r, H * r.range(0.02, 0.04), 20, 40)];
      const baseX = W * (0.5 + r.range(-0.15, 0.15));
      const baseY = H * (0.55 + r.range(-0.1, 0.1));
      let exit: ObjectModel['exit'];
      const axisDraw = r.next();
      const mirrorDraw = r.next();
      if (k <= this.info.exitObjects) {
        const axis = axisDraw < 0.65 ? 'x' : 'y';
        const L = axis === 'x' ? W : H;
        // Fully outside when the centre is beyond the far edge by the largest outline radius;
        // choose the sweep so that this holds for 20% of the period (|cos| > cos(0.2 pi)).
        const rOut = shape.rMax * size * MAX_GROWTH + 1;
        const lo = 0.45 * L;
        const thr = L - 0.5 + rOut;
        const amp = (thr - lo) / (1 + Math.cos(0.2 * Math.PI));
        // Later exit objects are phase-shifted so they are not all outside at once.
        const phase = ((k - 1) * 2 * Math.PI) / (this.info.exitObjects + 1);
        exit = { axis, mirror: mirrorDraw < 0.5, x0: lo + amp, amp, period: exitPeriod, phase };
        // Keep the cross axis calmer so the sweep dominates.
        const cross = axis === 'x' ? pathY : pathX;
        for (let i = 0; i < cross.length; i++) cross[i] = { ...cross[i], amp: cross[i].amp * 0.5 };
      }
      const texture = makeObjectTexture(shape, family, size, r, (hueOffset + 0.618034 * (classId - this.info.firstObjectClass)) % 1);
      if (this.info.hdr && (k === 1 || lr.next() < 0.5)) {
        const a = lr.range(0, 2 * Math.PI);
        const rad = lr.range(0, 0.45) * shape.rMin;
        const sigma = lr.range(0.06, 0.1);
        texture.addGaussian(rad * Math.cos(a), rad * Math.sin(a), sigma, DIFFUSE_LEVEL * 10 ** lr.range(1.5, 3), lightColour(lr));
      }
      objects.push({
        id: k,
        classId,
        shape,
        texture,
        size,
        baseX,
        baseY,
        pathX,
        pathY,
        exit,
        angle0: r.range(0, 2 * Math.PI),
        spin: r.sign() * r.range(0.005, 0.03),
        wobble: randWave(r, r.range(0.1, 0.3), 40, 100),
        scale: randWave(r, 0.15, 60, 160),
        aspect: randWave(r, 0.06, 40, 120),
        depthBase: depthPerm[k - 1] * 0.35,
        depth: randWave(r, 0.45, 50, 120),
        gain: randWave(r, r.range(0.05, 0.12) * this.info.appearanceDrift, 150, 300),
        hue: randWave(r, r.range(0.05, 0.15) * this.info.appearanceDrift, 150, 300),
      });
    }
    this.objects = objects;

    // Background lights (HDR): a sun in the sky and lamps spread evenly along the periodic ground,
    // so some are always in view whatever the pan.
    if (this.info.hdr) {
      const s = m / 240;
      if (this.skyTexture) {
        const y = this.horizon - lr.range(0.1, 0.22) * H;
        this.skyTexture.addGaussian(lr.range(0, period), y, lr.range(2.5, 4) * s, DIFFUSE_LEVEL * lr.range(400, 1000), [1, 0.95, 0.85]);
      }
      const n = this.info.lights;
      const xOff = lr.range(0, period);
      for (let i = 0; i < n; i++) {
        const x = xOff + ((i + lr.range(-0.1, 0.1)) * period) / n;
        const yLo = this.info.sky ? this.horizon + 0.08 * H : -0.4 * H;
        const y = lr.range(yLo, 0.4 * H);
        this.ground.addGaussian(x, y, lr.range(1.2, 2.5) * s, DIFFUSE_LEVEL * 10 ** lr.range(1, 3), lightColour(lr));
      }
    }
  }

  /** Scene time of frame t. */
  tau(t: number): number {
    return t * this.info.speed;
  }

  /** World -> image affine of the camera at frame t. */
  camera(t: number): Affine {
    const tau = this.tau(t);
    const c = this.cam;
    const { width: W, height: H } = this.info;
    const wx = c.x0 + c.vx * tau + wave(c.panX, tau);
    const wy = wave(c.panY, tau);
    const th = wave(c.roll, tau);
    const s = 1 + wave(c.zoom, tau);
    const a = s * Math.cos(th);
    const b = -s * Math.sin(th);
    const cc = s * Math.sin(th);
    const d = s * Math.cos(th);
    const cx = (W - 1) / 2;
    const cy = (H - 1) / 2;
    return { a, b, c: cc, d, tx: cx - (a * wx + b * wy), ty: cy - (cc * wx + d * wy) };
  }

  pose(o: ObjectModel, t: number): ObjectPose {
    const tau = this.tau(t);
    let cx = o.baseX + wave(o.pathX[0], tau) + wave(o.pathX[1], tau);
    let cy = o.baseY + wave(o.pathY[0], tau) + wave(o.pathY[1], tau);
    if (o.exit) {
      const e = o.exit;
      const u = e.x0 - e.amp * Math.cos((2 * Math.PI * tau) / e.period + e.phase);
      const L = e.axis === 'x' ? this.info.width : this.info.height;
      const v = e.mirror ? L - 1 - u : u;
      if (e.axis === 'x') cx = v;
      else cy = v;
    }
    const g = 1 + wave(o.scale, tau);
    const asp = 1 + wave(o.aspect, tau);
    return {
      cx,
      cy,
      angle: o.angle0 + o.spin * tau + wave(o.wobble, tau),
      scaleX: o.size * g * asp,
      scaleY: (o.size * g) / asp,
      depth: o.depthBase + wave(o.depth, tau),
    };
  }

  geometry(t: number): FrameGeometry {
    return new FrameGeometry(
      t,
      this.info.width,
      this.info.height,
      this.camera(t),
      this.objects.map((o) => this.pose(o, t)),
      this.objects.map((o) => o.shape),
    );
  }

  /** Colour matrices of frame t: row-major 3x3 per surface, surface 0 = background, k = object k. */
  colourMatrices(t: number): Float64Array {
    const tau = this.tau(t);
    const out = new Float64Array((this.objects.length + 1) * 9);
    gainHueMatrix(1 + wave(this.cam.gain, tau), wave(this.cam.hue, tau), out, 0);
    for (const o of this.objects) gainHueMatrix(1 + wave(o.gain, tau), wave(o.hue, tau), out, o.id * 9);
    return out;
  }
}

function checkInt(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`createScene: ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  return v;
}

function checkReal(name: string, v: number, lo: number, strict: boolean): number {
  if (!Number.isFinite(v) || v < lo || (strict && v === lo)) {
    throw new RangeError(`createScene: ${name} must be a finite number ${strict ? '>' : '>='} ${lo}, got ${v}`);
  }
  return v;
}

function validate(o: SceneOptions): SceneInfo {
  if (!Number.isInteger(o.seed)) throw new RangeError(`createScene: seed must be an integer, got ${o.seed}`);
  const width = checkInt('width', o.width ?? 320, 16, 8192);
  const height = checkInt('height', o.height ?? 240, 16, 8192);
  const frames = checkInt('frames', o.frames ?? 60, 1, 2 ** 31 - 1);
  const objects = checkInt('objects', o.objects ?? 3, 0, 255);
  const sky = o.sky ?? true;
  const firstObjectClass = sky ? 2 : 1;
  const classes = checkInt(
    'classes',
    o.classes ?? firstObjectClass + Math.min(objects, 4),
    objects > 0 ? firstObjectClass + 1 : firstObjectClass,
    255,
  );
  const exitObjects = checkInt('exitObjects', o.exitObjects ?? Math.min(1, objects), 0, objects);
  const nObjClasses = classes - firstObjectClass;
  const objectClasses = Array.from({ length: objects }, (_, i) => firstObjectClass + (i % Math.max(1, nObjClasses)));
  const classNames = Array.from({ length: classes }, (_, c) => {
    if (c === 0) return sky ? 'ground' : 'background';
    if (c === 1 && sky) return 'sky';
    const j = c - firstObjectClass;
    const fam: ShapeFamily = SHAPE_FAMILIES[j % SHAPE_FAMILIES.length];
    return j < SHAPE_FAMILIES.length ? fam : `${fam}-${Math.floor(j / SHAPE_FAMILIES.length) + 1}`;
  });
  return {
    seed: o.seed >>> 0,
    width,
    height,
    frames,
    fps: checkReal('fps', o.fps ?? 30, 0, true),
    objects,
    classes,
    classNames,
    objectClasses,
    firstObjectClass,
    sky,
    hdr: o.hdr ?? false,
    exposure: checkReal('exposure', o.exposure ?? 1, 0, true),
    exitObjects,
    exitPeriod: Math.min(160, Math.max(40, frames)),
    speed: checkReal('speed', o.speed ?? 1, 0, false),
    appearanceDrift: checkReal('appearanceDrift', o.appearanceDrift ?? 1, 0, false),
    cameraResponse: 'srgb-clip',
    lights: checkInt('lights', o.lights ?? 4, 0, 64),
  };
}

function shapeParams(family: ShapeFamily, r: Rng): number[] {
  switch (family) {
    case 'disc': {
      const a = r.range(0.85, 1.15);
      return [a, r.range(0.65, 0.95) * a];
    }
    case 'box':
      return [r.range(0.85, 1.1), r.range(0.6, 0.95), r.range(3, 5)];
    case 'star':
      return [5 + r.int(3), r.range(0.18, 0.3), r.range(0, 2 * Math.PI)];
    case 'blob':
      return [r.range(0.05, 0.14), r.range(0.04, 0.1), r.range(0.02, 0.06), r.range(0, 6.3), r.range(0, 6.3), r.range(0, 6.3)];
  }
}

function lightColour(r: Rng): [number, number, number] {
  return r.next() < 0.6 ? [1, 0.8, 0.55] : [0.85, 0.92, 1];
}

/** Coordinates of a texture's texel centres along x and y. */
function texelCoords(tex: Texture): { xs: Float64Array; ys: Float64Array } {
  const xs = new Float64Array(tex.width);
  const ys = new Float64Array(tex.height);
  for (let i = 0; i < tex.width; i++) xs[i] = tex.originX + i * tex.texel;
  for (let j = 0; j < tex.height; j++) ys[j] = tex.originY + j * tex.texel;
  return { xs, ys };
}

/**
 * Noise on `tex`'s texel grid: fbm at (x * fx, y * fy) with (x, y) the texel centre coordinates,
 * or, with `inTexels`, the texel indices offset by the origin (so feature sizes are counted in
 * texels). Periodic along x when the texture is (fx * width must then be an integer).
 */
function texNoise(tex: Texture, fx: number, fy: number, seed: number, octaves: number, inTexels = false): Float32Array {
  const step = inTexels ? 1 : tex.texel;
  const x0 = inTexels ? tex.originX / tex.texel : tex.originX;
  const y0 = inTexels ? tex.originY / tex.texel : tex.originY;
  const period = tex.periodic ? tex.width * step * fx : 0;
  return fbmGrid(tex.width, tex.height, x0, y0, step, fx, fy, seed, octaves, period);
}

/**
 * Ground: two-tone large-scale noise, fine grain, a soft tiling (row period `ly` texels) and
 * darker patches. Feature sizes are in texels.
 */
function fillGround(tex: Texture, r: Rng, ly: number): void {
  const hue = r.range(0.04, 0.38);
  const colA = hsvToLinear(hue, r.range(0.3, 0.6), r.range(0.45, 0.65));
  const colB = hsvToLinear(hue + r.range(0.05, 0.12), r.range(0.25, 0.55), r.range(0.3, 0.5));
  const large = texNoise(tex, 1 / 64, 1 / 64, r.noiseSeed(1), 4, true);
  const grain = texNoise(tex, 1 / 8, 1 / 8, r.noiseSeed(2), 2, true);
  const patch = texNoise(tex, 1 / 32, 1 / 32, r.noiseSeed(3), 2, true);
  const lx = tex.width / Math.max(1, Math.round(tex.width / 48)); // tiling period divides the tile width
  const sx = Float64Array.from({ length: tex.width }, (_, i) => Math.sin((2 * Math.PI * i) / lx));
  const sy = Float64Array.from({ length: tex.height }, (_, j) => Math.sin((2 * Math.PI * (j + tex.originY / tex.texel)) / ly));
  const d = tex.data;
  for (let j = 0, p = 0; j < tex.height; j++) {
    for (let i = 0; i < tex.width; i++, p++) {
      const blend = smoothstep(0.35, 0.65, large[p]);
      const tiles = smoothstep(-0.25, 0.25, sx[i] * sy[j]);
      const k = (0.8 + 0.4 * grain[p]) * (0.8 + 0.2 * tiles) * (1 - 0.45 * smoothstep(0.58, 0.68, patch[p]));
      for (let c = 0; c < 3; c++) d[p * 3 + c] = (colA[c] + (colB[c] - colA[c]) * blend) * k;
    }
  }
}

/** Sky: a vertical gradient from the horizon colour to the zenith colour with soft clouds. */
function fillSky(tex: Texture, r: Rng, H: number, horizon: number): void {
  const hue = r.range(0.55, 0.64);
  const low = hsvToLinear(hue, r.range(0.15, 0.3), r.range(0.85, 0.95));
  const high = hsvToLinear(hue + r.range(-0.02, 0.02), r.range(0.5, 0.7), r.range(0.7, 0.85));
  const cloud = hsvToLinear(hue, 0.05, r.range(0.88, 0.97));
  const clouds = texNoise(tex, 1 / 64, 1 / 24, r.noiseSeed(4), 4, true);
  const { ys } = texelCoords(tex);
  const d = tex.data;
  for (let j = 0, p = 0; j < tex.height; j++) {
    const h = Math.sqrt(Math.min(1, Math.max(0, (horizon - ys[j]) / (0.6 * H))));
    for (let i = 0; i < tex.width; i++, p++) {
      const c = 0.8 * smoothstep(0.5, 0.72, clouds[p]);
      for (let k = 0; k < 3; k++) {
        const base = low[k] + (high[k] - low[k]) * h;
        d[p * 3 + k] = base + (cloud[k] - base) * c;
      }
    }
  }
}

/**
 * Object texture over local [-rt, rt]^2 (rt just above the outline's rMax), about one texel per
 * pixel at the largest size. Base colour from the class hue, a class-specific pattern in a second
 * colour, fine grain, and rim darkening for some depth cue.
 */
function makeObjectTexture(shape: Shape, family: ShapeFamily, size: number, r: Rng, classHue: number): Texture {
  const rt = shape.rMax + 0.05;
  const n = Math.min(512, Math.max(16, Math.ceil(2 * rt * size * MAX_GROWTH)));
  const tex = new Texture(n, n, -rt, -rt, (2 * rt) / (n - 1), false);
  const hue = classHue + r.range(-0.04, 0.04);
  const base = hsvToLinear(hue, r.range(0.5, 0.85), r.range(0.6, 0.92));
  const second = hsvToLinear(hue + r.sign() * r.range(0.08, 0.2), r.range(0.35, 0.6), r.range(0.35, 0.6));
  const grain = texNoise(tex, 4, 4, r.noiseSeed(10), 2);
  const patSeed = r.noiseSeed(11);
  const noise =
    family === 'star' ? texNoise(tex, 2.5, 2.5, patSeed, 2) : family === 'blob' ? texNoise(tex, 1.5, 1.5, patSeed, 3) : undefined;
  const ang = r.range(0, Math.PI);
  const ca = Math.cos(ang);
  const sa = Math.sin(ang);
  const ph = r.range(0, 2 * Math.PI);
  const rad = shape.radius;
  const { xs, ys } = texelCoords(tex);
  const d = tex.data;
  for (let j = 0, p = 0; j < n; j++) {
    const y = ys[j];
    for (let i = 0; i < n; i++, p++) {
      const x = xs[i];
      const rr = Math.hypot(x, y);
      let pat: number;
      switch (family) {
        case 'disc': // concentric rings
          pat = 0.5 + 0.5 * Math.sin((2 * Math.PI * rr) / 0.45 + ph);
          break;
        case 'box': // soft stripes
          pat = smoothstep(-0.4, 0.4, Math.sin((2 * Math.PI * (x * ca + y * sa)) / 0.5 + ph));
          break;
        case 'star': // spots
          pat = smoothstep(0.55, 0.7, (noise as Float32Array)[p]);
          break;
        case 'blob': // marbling
          pat = 0.5 + 0.5 * Math.sin(3 * (x * ca + y * sa) + 6 * (noise as Float32Array)[p]);
          break;
      }
      // Outline radius in this direction (nearest sample is enough for shading).
      const a = Math.round(((Math.atan2(y, x) + Math.PI) * (rad.length - 1)) / (2 * Math.PI));
      const rim = 1 - 0.3 * Math.min(1, rr / rad[a]) ** 4;
      const k = (0.8 + 0.4 * grain[p]) * rim;
      for (let c = 0; c < 3; c++) d[p * 3 + c] = (base[c] + (second[c] - base[c]) * 0.65 * pat) * k;
    }
  }
  return tex;
}

/** Create a synthetic scene. Construction precomputes textures; frames render on demand. */
export function createScene(opts: SceneOptions): SyntheticScene {
  const model = new SceneModel(opts);
  const info: SceneInfo = model.info;
  const checkT = (t: number) => {
    if (!Number.isInteger(t) || t < 0 || t >= info.frames) {
      throw new RangeError(`synthetic scene: frame index ${t} is outside [0, ${info.frames})`);
    }
  };
  const frames = (from = 0, to = info.frames): AsyncIterable<SyntheticFrame> => {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > info.frames) {
      throw new RangeError(`synthetic scene: frame range [${from}, ${to}) is not within [0, ${info.frames}]`);
    }
    return {
      async *[Symbol.asyncIterator]() {
        for (let t = from; t < to; t++) yield renderFrame(model, t);
      },
    };
  };
  return {
    info,
    render(t: number): SyntheticFrame {
      checkT(t);
      return renderFrame(model, t);
    },
    geometry(t: number): FrameGeometry {
      if (!Number.isInteger(t)) throw new RangeError(`synthetic scene: frame index ${t} is not an integer`);
      return model.geometry(t);
    },
    frames,
    [Symbol.asyncIterator]() {
      return frames()[Symbol.asyncIterator]();
    },
  };
}
