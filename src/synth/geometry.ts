/**
 * Exact geometry of a synthetic frame: 2-D affine maps, star-shaped object outlines, and the
 * per-frame "which surface is visible at this point" query that labels, colour and flow all use.
 *
 * Image coordinates: x to the right, y down, in pixels; the centre of pixel (row y, column x) is
 * the point (x, y). A label is the front-most object whose outline contains the pixel centre, so
 * labels carry no anti-aliasing and agree with the colour rendering pixel for pixel.
 */

/** `p' = [a b; c d] p + [tx ty]`, as `{ a, b, c, d, tx, ty }`. */
export interface Affine {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly tx: number;
  readonly ty: number;
}

export function invertAffine(m: Affine): Affine {
  const det = m.a * m.d - m.b * m.c;
  const a = m.d / det;
  const b = -m.b / det;
  const c = -m.c / det;
  const d = m.a / det;
  return { a, b, c, d, tx: -(a * m.tx + b * m.ty), ty: -(c * m.tx + d * m.ty) };
}

/** `outer ∘ inner`: apply `inner` first. */
export function composeAffine(outer: Affine, inner: Affine): Affine {
  return {
    a: outer.a * inner.a + outer.b * inner.c,
    b: outer.a * inner.b + outer.b * inner.d,
    c: outer.c * inner.a + outer.d * inner.c,
    d: outer.c * inner.b + outer.d * inner.d,
    tx: outer.a * inner.tx + outer.b * inner.ty + outer.tx,
    ty: outer.c * inner.tx + outer.d * inner.ty + outer.ty,
  };
}

/** Number of angular samples of an outline (the table has one more entry that repeats the first). */
export const SHAPE_SAMPLES = 1024;

/**
 * A star-shaped outline in local (object) units: the point q is inside iff
 * `|q| < R(atan2(q.y, q.x))`, R linearly interpolated from `radius` sampled at
 * `phi_i = -pi + 2 pi i / SHAPE_SAMPLES`. Normalised so the area is pi (RMS radius 1).
 */
export interface Shape {
  readonly family: ShapeFamily;
  /** `SHAPE_SAMPLES + 1` radii; the last repeats the first. */
  readonly radius: Float64Array;
  /** Bounds of the interpolated R (exact: linear interpolation stays within the samples). */
  readonly rMin: number;
  readonly rMax: number;
  /** Area in local units squared of the interpolated outline. */
  readonly area: number;
}

export type ShapeFamily = 'disc' | 'box' | 'star' | 'blob';
export const SHAPE_FAMILIES: readonly ShapeFamily[] = ['disc', 'box', 'star', 'blob'];

/** Build an outline of `family` from its parameters (drawn by the caller). */
export function makeShape(family: ShapeFamily, p: readonly number[]): Shape {
  const n = SHAPE_SAMPLES;
  const r = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const phi = -Math.PI + (2 * Math.PI * i) / n;
    const cs = Math.cos(phi);
    const sn = Math.sin(phi);
    let v: number;
    switch (family) {
      case 'disc': // ellipse, semi-axes p0, p1
        v = 1 / Math.sqrt((cs / p[0]) ** 2 + (sn / p[1]) ** 2);
        break;
      case 'box': // superellipse (rounded rectangle), semi-axes p0, p1, exponent p2
        v = (Math.abs(cs / p[0]) ** p[2] + Math.abs(sn / p[1]) ** p[2]) ** (-1 / p[2]);
        break;
      case 'star': // smooth star: p0 points, amplitude p1, phase p2
        v = 1 + p[1] * Math.cos(p[0] * phi + p[2]);
        break;
      case 'blob': // low harmonics 2..4: amplitudes p0..p2, phases p3..p5
        v = 1 + p[0] * Math.cos(2 * phi + p[3]) + p[1] * Math.cos(3 * phi + p[4]) + p[2] * Math.cos(4 * phi + p[5]);
        break;
    }
    r[i] = v;
  }
  // Area of the piecewise-linear-in-angle outline, integrated finely, then rescaled to pi.
  const sub = 8;
  let a2 = 0;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < sub; k++) {
      const f = (k + 0.5) / sub;
      const rr = r[i] + (r[(i + 1) % n] - r[i]) * f;
      a2 += rr * rr;
    }
  }
  const rawArea = (0.5 * a2 * (2 * Math.PI)) / (n * sub);
  const scale = Math.sqrt(Math.PI / rawArea);
  let rMin = Number.POSITIVE_INFINITY;
  let rMax = 0;
  for (let i = 0; i < n; i++) {
    r[i] *= scale;
    rMin = Math.min(rMin, r[i]);
    rMax = Math.max(rMax, r[i]);
  }
  r[n] = r[0];
  return { family, radius: r, rMin, rMax, area: Math.PI };
}

/** Whether local point (qx, qy) is inside `shape` (the one inside test everything uses). */
export function insideShape(shape: Shape, qx: number, qy: number): boolean {
  const r2 = qx * qx + qy * qy;
  if (r2 < shape.rMin * shape.rMin) return true;
  if (r2 >= shape.rMax * shape.rMax) return false;
  const u = (Math.atan2(qy, qx) + Math.PI) * (SHAPE_SAMPLES / (2 * Math.PI));
  let i = Math.floor(u);
  if (i >= SHAPE_SAMPLES) i = SHAPE_SAMPLES - 1; // atan2 = +pi lands on the last segment
  const rad = shape.radius;
  const rr = rad[i] + (rad[i + 1] - rad[i]) * (u - i);
  return r2 < rr * rr;
}

/** Pose of one object in one frame (what `ObjectState` reports, and what builds `toImage`). */
export interface ObjectPose {
  readonly cx: number;
  readonly cy: number;
  /** Rotation in radians (counter-clockwise in x-right/y-down coordinates means clockwise on screen). */
  readonly angle: number;
  readonly scaleX: number;
  readonly scaleY: number;
  /** Depth: smaller is nearer the camera. */
  readonly depth: number;
}

/** Local -> image affine of a pose: `p = c + R(angle) diag(scaleX, scaleY) q`. */
export function poseAffine(p: ObjectPose): Affine {
  const cs = Math.cos(p.angle);
  const sn = Math.sin(p.angle);
  return { a: cs * p.scaleX, b: -sn * p.scaleY, c: sn * p.scaleX, d: cs * p.scaleY, tx: p.cx, ty: p.cy };
}

/**
 * Everything geometric about one frame: the camera (world -> image), each object's pose, the depth
 * order, and the visibility query. Object ids are 1..K; index `id - 1` in the arrays.
 */
export class FrameGeometry {
  /** Frame index (may be virtual, e.g. -1 for the backward flow of frame 0). */
  readonly t: number;
  readonly width: number;
  readonly height: number;
  /** World -> image affine of the background plane. */
  readonly camera: Affine;
  /** Image -> world. */
  readonly cameraInverse: Affine;
  readonly poses: readonly ObjectPose[];
  /** Local -> image per object. */
  readonly toImage: readonly Affine[];
  /** Image -> local per object. */
  readonly toLocal: readonly Affine[];
  /** Object ids front to back (ties broken by smaller id in front). */
  readonly order: readonly number[];
  /** Conservative image bounding boxes `[x0, y0, x1, y1]` per object (the image of the rMax disc). */
  readonly bbox: readonly (readonly [number, number, number, number])[];
  /** Local coordinates of the last `hit` that returned an object (scratch, valid until the next call). */
  qx = 0;
  qy = 0;

  private readonly shapes: readonly Shape[];
  // Flattened, front-to-back copies of what `hit` reads, so the per-pixel loop touches one array.
  private readonly flat: Float64Array;
  private readonly flatShape: Shape[];
  private readonly flatId: Int32Array;
  static readonly STRIDE = 10;

  constructor(t: number, width: number, height: number, camera: Affine, poses: readonly ObjectPose[], shapes: readonly Shape[]) {
    this.t = t;
    this.width = width;
    this.height = height;
    this.camera = camera;
    this.cameraInverse = invertAffine(camera);
    this.poses = poses;
    this.shapes = shapes;
    this.toImage = poses.map(poseAffine);
    this.toLocal = this.toImage.map(invertAffine);
    this.order = poses.map((_, i) => i + 1).sort((i, j) => poses[i - 1].depth - poses[j - 1].depth || i - j);
    this.bbox = this.toImage.map((m, i) => {
      const r = shapes[i].rMax;
      const ex = r * Math.hypot(m.a, m.b);
      const ey = r * Math.hypot(m.c, m.d);
      return [m.tx - ex, m.ty - ey, m.tx + ex, m.ty + ey] as const;
    });
    const S = FrameGeometry.STRIDE;
    this.flat = new Float64Array(poses.length * S);
    this.flatShape = [];
    this.flatId = new Int32Array(poses.length);
    this.order.forEach((id, k) => {
      const b = this.bbox[id - 1];
      const l = this.toLocal[id - 1];
      this.flat.set([b[0], b[1], b[2], b[3], l.a, l.b, l.c, l.d, l.tx, l.ty], k * S);
      this.flatShape.push(shapes[id - 1]);
      this.flatId[k] = id;
    });
  }

  /**
   * Id of the front-most object whose outline contains image point (x, y), or 0 for the
   * background. When non-zero, `qx, qy` hold the point in that object's local coordinates.
   */
  hit(x: number, y: number): number {
    const f = this.flat;
    const n = this.flatId.length;
    for (let k = 0, o = 0; k < n; k++, o += FrameGeometry.STRIDE) {
      if (x < f[o] || x > f[o + 2] || y < f[o + 1] || y > f[o + 3]) continue;
      const qx = f[o + 4] * x + f[o + 5] * y + f[o + 8];
      const qy = f[o + 6] * x + f[o + 7] * y + f[o + 9];
      if (insideShape(this.flatShape[k], qx, qy)) {
        this.qx = qx;
        this.qy = qy;
        return this.flatId[k];
      }
    }
    return 0;
  }

  /** Whether object `id`'s outline contains (x, y), ignoring occlusion. */
  covers(id: number, x: number, y: number): boolean {
    const l = this.toLocal[id - 1];
    return insideShape(this.shapes[id - 1], l.a * x + l.b * y + l.tx, l.c * x + l.d * y + l.ty);
  }

  /** Image -> image map that carries the surface `id` (0 = background) from this frame to `other`. */
  motionTo(other: FrameGeometry, id: number): Affine {
    const from = id === 0 ? this.camera : this.toImage[id - 1];
    const to = id === 0 ? other.camera : other.toImage[id - 1];
    // A surface that did not move gets exactly zero flow (composing a map with its inverse would
    // leave rounding residue of ~1e-14 px).
    if (from.a === to.a && from.b === to.b && from.c === to.c && from.d === to.d && from.tx === to.tx && from.ty === to.ty) {
      return { a: 1, b: 0, c: 0, d: 1, tx: 0, ty: 0 };
    }
    return composeAffine(to, id === 0 ? this.cameraInverse : this.toLocal[id - 1]);
  }
}
