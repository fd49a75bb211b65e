/**
 * VPN's learned mask stage (ANCHORS §3.1, "BNN" stage of Jampani et al. 2017) on top of the
 * bilateral engine's filtered unaries, for one object (2 channels: background, object).
 *
 * With neighbourhood 0 (what every public VPN model uses) a BCL is a per-vertex channel mix W
 * between splat and slice, and AFTER normalisation divides by the filtered ones; both commute with
 * W, so BCL(x) = W · filterAfter(x) + bias. The stage per target superpixel s:
 *   h1 = ReLU([Wa · fa + ba ; Wb · fb + bb])                     2 → 32 each (fa, fb: Λa, Λb filtered unaries)
 *   h2 = ReLU([Fa(Wa2 · h1) + ba2 ; Fb(Wb2 · h1) + bb2])         64 → 32 each; Fa, Fb = the normalised
 *                                                                 within-frame filters on the target's own
 *                                                                 superpixels (in = out), Λa and Λb
 *                                                                 (= Wa2 · Fa(h1): the mix commutes)
 *   u  = ReLU(W3 · [h1 ; h2] + b3)                               128 → 2
 * then u is smeared to the superpixels' pixels and the spatial CNN (conv3x3 2→32, ReLU, conv3x3
 * 32→32, ReLU, conv3x3 32→2) with VPN's "normalize" gives per-pixel probabilities. The
 * normalisation adds 1e-4 to both ReLU'd channels (VPN divides by sum + 1e-12; the offset keeps a
 * pixel whose two channels are both clipped at 0.5/0.5 rather than 0/0, and the log-loss finite).
 *
 * Model file (training/vprop_train/vpn.py `export_vpn`): an ONNX graph of the spatial CNN and the
 * normalisation (`u` 1x2xHxW → `probabilities` 1x2xHxW), with the superpixel stage's weights in
 * its metadata (`vprop.vpn_bcl`, JSON of row-major arrays) so one file holds the model.
 */
import { type LoadModelOptions, loadModel, type OnnxModel, type TensorData } from '../../models/session.js';
import { filterAfter, type Lattice } from '../../ops/lattice.js';
import { smear } from '../../ops/superpixel-features.js';
import type { FilteredUnaries } from '../bilateral/index.js';

/** Hidden channels of each BCL (VPN: 32). */
export const VPN_HIDDEN = 32;

/** The superpixel stage's weights, row-major (out x in). */
export interface VpnBclWeights {
  readonly wa: Float32Array;
  readonly ba: Float32Array;
  readonly wb: Float32Array;
  readonly bb: Float32Array;
  readonly wa2: Float32Array;
  readonly ba2: Float32Array;
  readonly wb2: Float32Array;
  readonly bb2: Float32Array;
  readonly w3: Float32Array;
  readonly b3: Float32Array;
}

const SHAPES: Record<keyof VpnBclWeights, number> = {
  wa: VPN_HIDDEN * 2,
  ba: VPN_HIDDEN,
  wb: VPN_HIDDEN * 2,
  bb: VPN_HIDDEN,
  wa2: VPN_HIDDEN * 2 * VPN_HIDDEN,
  ba2: VPN_HIDDEN,
  wb2: VPN_HIDDEN * 2 * VPN_HIDDEN,
  bb2: VPN_HIDDEN,
  w3: 2 * 4 * VPN_HIDDEN,
  b3: 2,
};

/** Parses weight arrays from a model's metadata entry `prop`; errors name the file and the problem. */
function parseWeights<K extends string>(
  json: string | undefined,
  source: string,
  prop: string,
  shapes: Record<K, number>,
): Record<K, Float32Array> {
  if (json === undefined) throw new Error(`${source}: no ${prop} metadata (not a model of this kind)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(json) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${source}: ${prop} is not valid JSON (${(err as Error).message})`);
  }
  const out: Partial<Record<K, Float32Array>> = {};
  for (const [key, size] of Object.entries(shapes) as [K, number][]) {
    const v = raw[key];
    if (!Array.isArray(v) || v.length !== size || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
      throw new Error(`${source}: ${prop}.${key} must be ${size} finite numbers`);
    out[key] = Float32Array.from(v as number[]);
  }
  return out as Record<K, Float32Array>;
}

/** Loads `path` (a `.onnx` file, or a prefix to which `.onnx` is added) and checks its `vprop.model`. */
async function loadVpnModel(
  path: string,
  kind: 'vpn-mask' | 'vpn-color',
  opts: LoadModelOptions,
): Promise<{ file: string; model: OnnxModel }> {
  const file = path.endsWith('.onnx') ? path : `${path}.onnx`;
  const model = await loadModel(file, opts);
  const found = model.metadata.props['vprop.model'];
  if (found !== kind) throw new Error(`${file}: vprop.model is '${found ?? '(none)'}', expected '${kind}'`);
  return { file, model };
}

/** y (O x n) = ReLU?(W (O x I) · x (I x n) + b), planar. */
function mix(
  W: Float32Array,
  b: Float32Array,
  x: Float32Array,
  I: number,
  n: number,
  relu: boolean,
  out: Float32Array,
  outOffset = 0,
): void {
  const O = b.length;
  for (let o = 0; o < O; o++) {
    const row = out.subarray((outOffset + o) * n, (outOffset + o + 1) * n);
    row.fill(b[o]);
    for (let i = 0; i < I; i++) {
      const w = W[o * I + i];
      if (w === 0) continue;
      const xi = x.subarray(i * n, (i + 1) * n);
      for (let k = 0; k < n; k++) row[k] += w * xi[k];
    }
    if (relu) for (let k = 0; k < n; k++) if (row[k] < 0) row[k] = 0;
  }
}

export class VpnMaskNet {
  private constructor(
    readonly source: string,
    readonly bcl: VpnBclWeights,
    private readonly spatialModel: OnnxModel,
    /** The net fuses per-frame probabilities before its spatial CNN (VPN-DeepLab's place, §3.1 step 4). */
    readonly perFrame: boolean,
  ) {}

  /** Loads `path` (a `.onnx` file, or a prefix to which `.onnx` is added). */
  static async load(path: string, opts: LoadModelOptions = {}): Promise<VpnMaskNet> {
    const { file, model } = await loadVpnModel(path, 'vpn-mask', opts);
    const weights = parseWeights(model.metadata.props['vprop.vpn_bcl'], file, 'vprop.vpn_bcl', SHAPES);
    return new VpnMaskNet(file, weights, model, model.metadata.props['vprop.per_frame'] === 'true');
  }

  /** The superpixel stage: filtered unaries (2 channels) → u, planar 2 x count. */
  superpixelStage(f: FilteredUnaries): Float32Array {
    if (f.C !== 2) throw new RangeError(`VpnMaskNet: the superpixel stage takes 2 channels (background, object), got ${f.C}`);
    const n = f.points.count;
    const H = VPN_HIDDEN;
    const { wa, ba, wb, bb, wa2, ba2, wb2, bb2, w3, b3 } = this.bcl;
    const h = new Float32Array(4 * H * n); // [h1 (64) ; h2 (64)]
    mix(wa, ba, f.a, 2, n, true, h, 0);
    mix(wb, bb, f.b, 2, n, true, h, H);
    const h1 = h.subarray(0, 2 * H * n);
    // The channel mix commutes with the per-channel filter: mix 64 → 32 first, filter 32 channels.
    const zero = new Float32Array(H);
    for (const [W, bias, lat, at] of [
      [wa2, ba2, f.points.latA, 2 * H],
      [wb2, bb2, f.points.latB, 3 * H],
    ] as const) {
      const z = new Float32Array(H * n);
      mix(W, zero, h1, 2 * H, n, false, z, 0);
      const g = filterAfter(lat, z, H);
      for (let o = 0; o < H; o++) {
        const row = h.subarray((at + o) * n, (at + o + 1) * n);
        const src = g.subarray(o * n, (o + 1) * n);
        for (let k = 0; k < n; k++) row[k] = Math.max(0, src[k] + bias[o]);
      }
    }
    const u = new Float32Array(2 * n);
    mix(w3, b3, h, 4 * H, n, true, u, 0);
    return u;
  }

  /**
   * The spatial CNN on smeared u (planar 2 x width*height) → probabilities, planar 2 x
   * width*height; `perFrame` (background, object probabilities, same layout) when the net takes it.
   */
  async spatial(u: Float32Array, width: number, height: number, perFrame?: Float32Array): Promise<Float32Array> {
    const dims = [1, 2, height, width];
    if (this.perFrame && perFrame?.length !== u.length)
      throw new RangeError(
        `${this.source}: this model fuses per-frame probabilities (2 x ${width}x${height}); none or the wrong size given`,
      );
    const feeds: Record<string, TensorData> = { u: { data: u, dims } };
    if (this.perFrame) feeds.per_frame = { data: perFrame as Float32Array, dims };
    const out = await this.spatialModel.run(feeds);
    return out.probabilities.data;
  }

  /** The whole stage for a frame's superpixels (`f.points.sp` must be set): per-pixel probabilities, planar 2 x width*height. */
  async predict(f: FilteredUnaries, width: number, height: number, perFrame?: Float32Array): Promise<Float32Array> {
    const sp = f.points.sp;
    if (!sp) throw new RangeError('VpnMaskNet: the learned stage works on superpixels (variant superpixel)');
    const n = width * height;
    if (sp.labels.length !== n) throw new RangeError(`VpnMaskNet: ${sp.labels.length} superpixel labels for a ${width}x${height} frame`);
    return this.spatial(smear(sp.labels, this.superpixelStage(f), 2, n), width, height, perFrame);
  }

  async release(): Promise<void> {
    await this.spatialModel.release();
  }
}

/** The colour stage's per-pixel weights, row-major (out x in). */
export interface VpnColorWeights {
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
  readonly w3: Float32Array;
  readonly b3: Float32Array;
}

const COLOR_SHAPES: Record<keyof VpnColorWeights, number> = {
  w1: VPN_HIDDEN * 2,
  b1: VPN_HIDDEN,
  w2: VPN_HIDDEN * VPN_HIDDEN,
  b2: VPN_HIDDEN,
  w3: 2 * 2 * VPN_HIDDEN,
  b3: 2,
};

/**
 * VPN's learned colour stage (ANCHORS §3.3) on the bilateral engine's filtered chroma (Lab (a, b),
 * the colour task's property; the network works on (a, b) / 100):
 *   h1 = ReLU(W1 · fc + b1)                  BCL 2 → 32 from the previous frames (n = 0)
 *   h2 = ReLU(F(W2 · h1) + b2)               within-frame BCL 32 → 32, F the normalised filter
 *                                            over the target's own pixels (Y, x, y, t)
 *   m  = ReLU(W3 · [h1 ; h2] + b3)           1x1 64 → 2
 *   chroma = W4 · [m ; ReLU(CNN(m))] + b4    spatial CNN 2→32→32→2 and the last 1x1 (ONNX graph)
 * Model file (train_vpn.py --task color): the ONNX graph `m` 1x2xHxW → `chroma` 1x2xHxW, with
 * W1..b3 in its metadata (`vprop.vpn_color`).
 */
export class VpnColorNet {
  private constructor(
    readonly source: string,
    readonly weights: VpnColorWeights,
    private readonly spatialModel: OnnxModel,
  ) {}

  static async load(path: string, opts: LoadModelOptions = {}): Promise<VpnColorNet> {
    const { file, model } = await loadVpnModel(path, 'vpn-color', opts);
    return new VpnColorNet(file, parseWeights(model.metadata.props['vprop.vpn_color'], file, 'vprop.vpn_color', COLOR_SHAPES), model);
  }

  /** The per-pixel stage: filtered chroma (planar 2 x n, Lab ab) on `lattice` (in = out = the n pixels) → m. */
  pixelStage(fc: Float32Array, lattice: Lattice): Float32Array {
    const n = lattice.nIn;
    if (fc.length !== 2 * n) throw new RangeError(`VpnColorNet: ${fc.length} chroma values for ${n} pixels`);
    const H = VPN_HIDDEN;
    const { w1, b1, w2, b2, w3, b3 } = this.weights;
    const x = new Float32Array(2 * n);
    for (let i = 0; i < 2 * n; i++) x[i] = fc[i] / 100;
    const h = new Float32Array(2 * H * n);
    mix(w1, b1, x, 2, n, true, h, 0);
    const z = new Float32Array(H * n);
    mix(w2, new Float32Array(H), h.subarray(0, H * n), H, n, false, z, 0);
    const g = filterAfter(lattice, z, H);
    for (let o = 0; o < H; o++) {
      const row = h.subarray((H + o) * n, (H + o + 1) * n);
      const src = g.subarray(o * n, (o + 1) * n);
      for (let k = 0; k < n; k++) row[k] = Math.max(0, src[k] + b2[o]);
    }
    const m = new Float32Array(2 * n);
    mix(w3, b3, h, 2 * H, n, true, m, 0);
    return m;
  }

  /** The whole stage: Lab (a, b), planar 2 x width*height. */
  async predict(fc: Float32Array, lattice: Lattice, width: number, height: number): Promise<Float32Array> {
    if (lattice.nIn !== width * height)
      throw new RangeError(`VpnColorNet: the lattice has ${lattice.nIn} points for a ${width}x${height} frame`);
    const out = await this.spatialModel.run({ m: { data: this.pixelStage(fc, lattice), dims: [1, 2, height, width] } });
    const ab = out.chroma.data;
    const res = new Float32Array(ab.length);
    for (let i = 0; i < ab.length; i++) res[i] = ab[i] * 100;
    return res;
  }

  async release(): Promise<void> {
    await this.spatialModel.release();
  }
}
