/**
 * Rendering of one synthetic frame from the closed-form scene: one pass over the pixels computes
 * the visible surface (label), its colour (texture lookup through the inverse affine), the class
 * and, in HDR mode, the radiance; flow and occlusion are computed on demand from the same labels
 * and the geometry of the neighbouring frame.
 */
import type { LabelImage, RgbFrame } from '../core/types.js';
import { encodeLinear8 } from './camera.js';
import type { FrameGeometry } from './geometry.js';
import type { ObjectState, SceneModel, SyntheticFrame } from './scene.js';

class RenderedFrame implements SyntheticFrame {
  readonly width: number;
  readonly height: number;
  private greyCache: LabelImage | undefined;
  private backward: { flow: Float32Array; occlusion: Uint8Array } | undefined;
  private forward: { flow: Float32Array; occlusion: Uint8Array } | undefined;

  constructor(
    private readonly model: SceneModel,
    readonly index: number,
    readonly geometry: FrameGeometry,
    readonly rgb: RgbFrame,
    readonly labels: LabelImage,
    readonly classes: LabelImage,
    readonly radiance: Float32Array | undefined,
    readonly objects: readonly ObjectState[],
  ) {
    this.width = rgb.width;
    this.height = rgb.height;
  }

  get grey(): LabelImage {
    if (!this.greyCache) {
      const n = this.width * this.height;
      const out = new Uint8Array(n);
      const d = this.rgb.data;
      // Integer arithmetic: exact round-half-up of 0.299 R + 0.587 G + 0.114 B.
      for (let i = 0, o = 0; i < n; i++, o += 3) out[i] = ((299 * d[o] + 587 * d[o + 1] + 114 * d[o + 2] + 500) / 1000) | 0;
      this.greyCache = { width: this.width, height: this.height, data: out };
    }
    return this.greyCache;
  }

  get flow(): Float32Array {
    this.backward ??= motionField(this.model, this.geometry, this.labels, -1);
    return this.backward.flow;
  }

  get occlusion(): Uint8Array {
    this.backward ??= motionField(this.model, this.geometry, this.labels, -1);
    return this.backward.occlusion;
  }

  get forwardFlow(): Float32Array {
    this.forward ??= motionField(this.model, this.geometry, this.labels, 1);
    return this.forward.flow;
  }

  get forwardOcclusion(): Uint8Array {
    this.forward ??= motionField(this.model, this.geometry, this.labels, 1);
    return this.forward.occlusion;
  }

  objectMask(id: number): Uint8Array {
    const l = this.labels.data;
    const out = new Uint8Array(l.length);
    for (let i = 0; i < l.length; i++) out[i] = l[i] === id ? 1 : 0;
    return out;
  }
}

/**
 * Flow from frame t to frame t + dir for every pixel, following the surface visible at the pixel,
 * and the mask of pixels whose surface point is not visible (occluded or outside the image) there.
 */
function motionField(
  model: SceneModel,
  geo: FrameGeometry,
  labels: LabelImage,
  dir: -1 | 1,
): { flow: Float32Array; occlusion: Uint8Array } {
  const W = geo.width;
  const H = geo.height;
  const other = model.geometry(geo.t + dir);
  const maps = [];
  for (let id = 0; id <= model.objects.length; id++) maps.push(geo.motionTo(other, id));
  const flow = new Float32Array(2 * W * H);
  const occ = new Uint8Array(W * H);
  const lab = labels.data;
  const off = W * H;
  for (let y = 0, p = 0; y < H; y++) {
    for (let x = 0; x < W; x++, p++) {
      const id = lab[p];
      const m = maps[id];
      const px = m.a * x + m.b * y + m.tx;
      const py = m.c * x + m.d * y + m.ty;
      flow[p] = py - y;
      flow[off + p] = px - x;
      // Visible in the other frame iff inside the image and the same surface is front-most there.
      const inside = px >= -0.5 && px < W - 0.5 && py >= -0.5 && py < H - 0.5;
      occ[p] = inside && other.hit(px, py) === id ? 0 : 1;
    }
  }
  return { flow, occlusion: occ };
}

/** Render frame t of `model` (t is not range-checked here; `createScene` does that). */
export function renderFrame(model: SceneModel, t: number): SyntheticFrame {
  const info = model.info;
  const W = info.width;
  const H = info.height;
  const K = model.objects.length;
  const geo = model.geometry(t);
  const mats = model.colourMatrices(t);
  const exposure = info.exposure;
  const rgb = new Uint8Array(W * H * 3);
  const labels = new Uint8Array(W * H);
  const classes = new Uint8Array(W * H);
  const radiance = info.hdr ? new Float32Array(W * H * 3) : undefined;
  const counts = new Float64Array(K + 1);
  const objClass = new Uint8Array(K + 1);
  for (const o of model.objects) objClass[o.id] = o.classId;
  const textures = model.objects.map((o) => o.texture);
  const ground = model.ground;
  const sky = model.skyTexture;
  const horizon = model.horizon;
  const ci = geo.cameraInverse;
  const s = new Float64Array(3);
  // Background tiles are sampled inline (the hot path: most pixels are background). Both tiles
  // are periodic along x with the same power-of-two width and clamp along y; see Texture.sample.
  const gd = ground.data;
  const sd = sky?.data;
  const tileW = ground.width;
  const mask = tileW - 1;
  const invTexel = 1 / ground.texel; // both tiles share texel size and x origin 0

  for (let y = 0, p = 0; y < H; y++) {
    const rowWx = ci.b * y + ci.tx;
    const rowWy = ci.d * y + ci.ty;
    for (let x = 0; x < W; x++, p++) {
      const id = geo.hit(x, y);
      let cls: number;
      if (id !== 0) {
        textures[id - 1].sample(geo.qx, geo.qy, s);
        cls = objClass[id];
      } else {
        const wx = ci.a * x + rowWx;
        const wy = ci.c * x + rowWy;
        let d = gd;
        let tex = ground;
        cls = 0;
        if (sd !== undefined && sky !== undefined && wy < horizon) {
          d = sd;
          tex = sky;
          cls = 1;
        }
        const u = wx * invTexel;
        const v = (wy - tex.originY) * invTexel;
        const xf = Math.floor(u);
        let j0 = Math.floor(v);
        const fu = u - xf;
        let fv = v - j0;
        let j1 = j0 + 1;
        if (j0 < 0) {
          j0 = j1 = 0;
          fv = 0;
        } else if (j1 >= tex.height) {
          j0 = j1 = tex.height - 1;
          fv = 0;
        }
        const i0 = xf & mask;
        const i1 = (i0 + 1) & mask;
        const a00 = (j0 * tileW + i0) * 3;
        const a10 = (j0 * tileW + i1) * 3;
        const a01 = (j1 * tileW + i0) * 3;
        const a11 = (j1 * tileW + i1) * 3;
        const w00 = (1 - fu) * (1 - fv);
        const w10 = fu * (1 - fv);
        const w01 = (1 - fu) * fv;
        const w11 = fu * fv;
        s[0] = w00 * d[a00] + w10 * d[a10] + w01 * d[a01] + w11 * d[a11];
        s[1] = w00 * d[a00 + 1] + w10 * d[a10 + 1] + w01 * d[a01 + 1] + w11 * d[a11 + 1];
        s[2] = w00 * d[a00 + 2] + w10 * d[a10 + 2] + w01 * d[a01 + 2] + w11 * d[a11 + 2];
      }
      labels[p] = id;
      classes[p] = cls;
      counts[id]++;
      const m = id * 9;
      let r = mats[m] * s[0] + mats[m + 1] * s[1] + mats[m + 2] * s[2];
      let g = mats[m + 3] * s[0] + mats[m + 4] * s[1] + mats[m + 5] * s[2];
      let b = mats[m + 6] * s[0] + mats[m + 7] * s[1] + mats[m + 8] * s[2];
      // The hue rotation can push a saturated colour slightly below zero; radiance is non-negative.
      if (r < 0) r = 0;
      if (g < 0) g = 0;
      if (b < 0) b = 0;
      const o = p * 3;
      if (radiance !== undefined) {
        // Round to float32 first so that rgb is exactly the camera response of the stored radiance.
        r = Math.fround(r);
        g = Math.fround(g);
        b = Math.fround(b);
        radiance[o] = r;
        radiance[o + 1] = g;
        radiance[o + 2] = b;
      }
      rgb[o] = encodeLinear8(exposure * r);
      rgb[o + 1] = encodeLinear8(exposure * g);
      rgb[o + 2] = encodeLinear8(exposure * b);
    }
  }

  const rank = new Int32Array(K + 1);
  geo.order.forEach((id, i) => {
    rank[id] = i;
  });
  const objects: ObjectState[] = model.objects.map((o) => {
    const pose = geo.poses[o.id - 1];
    return {
      id: o.id,
      classId: o.classId,
      pose,
      depthRank: rank[o.id],
      bbox: geo.bbox[o.id - 1],
      area: pose.scaleX * pose.scaleY * o.shape.area,
      pixels: counts[o.id],
    };
  });
  return new RenderedFrame(
    model,
    t,
    geo,
    { width: W, height: H, data: rgb },
    { width: W, height: H, data: labels },
    { width: W, height: H, data: classes },
    radiance,
    objects,
  );
}
