/**
 * maskprop's propagation network (issue 10; MaskTrack's refinement of a coarse mask, ANCHORS §6):
 * per object, a region of interest around its coarse probability, the frame and the probability
 * cropped to it and resized to S x S, a small U-Net (ONNX) returning the object's logits there,
 * resized back and pasted into the frame; outside the region the object is absent.
 *
 * The reference of every step is training/vprop_train/propnet.py (`roi_box`, `crop_resize`,
 * `paste`, `net_input`); test/engine-maskprop-propnet.test.ts checks them against its fixtures.
 * Layouts: planes are row-major `H x W`; images planar `C x H x W`.
 */
import { type LoadModelOptions, loadModel, type OnnxModel } from '../../models/session.js';
import { resizeBilinearPlanar } from '../../ops/resize.js';

/** A region of interest, rows y0..y1-1 and columns x0..x1-1. */
export interface RoiBox {
  readonly y0: number;
  readonly x0: number;
  readonly y1: number;
  readonly x1: number;
}

const THRESHOLD = 0.5;

/**
 * The region of interest of a probability plane: the bounding box of p > 0.5, each side moved out
 * by `margin` x the box's extent (floor / ceil), grown about its centre to at least `minSide`
 * pixels (never beyond the frame), clipped to the frame. Undefined when no pixel exceeds 0.5.
 * @param prob `H x W`
 */
export function roiBox(prob: Float32Array, W: number, H: number, margin: number, minSide: number): RoiBox | undefined {
  let y0 = H;
  let y1 = -1;
  let x0 = W;
  let x1 = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      if (prob[row + x] > THRESHOLD) {
        if (y < y0) y0 = y;
        y1 = y;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
      }
    }
  }
  if (y1 < 0) return undefined;
  const [a, b] = growAxis(y0, y1 + 1, H, margin, minSide);
  const [c, d] = growAxis(x0, x1 + 1, W, margin, minSide);
  return { y0: a, x0: c, y1: b, x1: d };
}

function growAxis(a0: number, a1: number, n: number, margin: number, minSide: number): [number, number] {
  const ext = a1 - a0;
  let lo = Math.floor(a0 - margin * ext);
  let hi = Math.ceil(a1 + margin * ext);
  const side = Math.min(Math.max(hi - lo, minSide), n);
  if (hi - lo < side) {
    // Python's floor division of twice the centre.
    lo = Math.floor((lo + hi - side) / 2);
    hi = lo + side;
  }
  if (lo < 0) {
    hi -= lo;
    lo = 0;
  }
  if (hi > n) {
    lo -= hi - n;
    hi = n;
  }
  return [Math.max(lo, 0), Math.min(hi, n)];
}

/**
 * Planes cropped to `box` and resized bilinearly (pixel centres, ops/resize.ts) to size x size.
 * @param planes planar `C x H x W`
 * @returns planar `C x size x size`
 */
export function cropResize(planes: Float32Array, C: number, W: number, H: number, box: RoiBox, size: number): Float32Array {
  const h = box.y1 - box.y0;
  const w = box.x1 - box.x0;
  const sub = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * H * W + (box.y0 + y) * W + box.x0;
      sub.set(planes.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return resizeBilinearPlanar(sub, C, w, h, size, size);
}

/**
 * Crop logits (`size x size`) resized to the box and placed into an `H x W` plane of `outside`.
 */
export function pasteLogits(logit: Float32Array, size: number, box: RoiBox, W: number, H: number, outside: number): Float32Array {
  const out = new Float32Array(W * H).fill(outside);
  const h = box.y1 - box.y0;
  const w = box.x1 - box.x0;
  const r = resizeBilinearPlanar(logit, 1, size, size, w, h);
  for (let y = 0; y < h; y++) out.set(r.subarray(y * w, (y + 1) * w), (box.y0 + y) * W + box.x0);
  return out;
}

/** The trained network and its region parameters (from the file's metadata). */
export class PropNet {
  private constructor(
    readonly source: string,
    private readonly model: OnnxModel,
    /** Side of the square crop the net sees. */
    readonly crop: number,
    /** Margin of the region, per side, as a fraction of the box's extent. */
    readonly margin: number,
    /** Smallest region side in working-frame pixels. */
    readonly minSide: number,
  ) {}

  /** Load `PREFIX.onnx` (or a .onnx path); the file must be a maskprop propagation network. */
  static async load(path: string, opts: LoadModelOptions = {}): Promise<PropNet> {
    const file = path.endsWith('.onnx') ? path : `${path}.onnx`;
    const model = await loadModel(file, opts);
    const props = model.metadata.props;
    if (props['vprop.model'] !== 'maskprop-propnet') {
      await model.release();
      throw new Error(`${file}: vprop.model is '${props['vprop.model'] ?? '(none)'}', expected 'maskprop-propnet'`);
    }
    const num = (key: string): number => {
      const v = Number(props[key]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${file}: metadata ${key} is '${props[key] ?? '(none)'}', expected a number`);
      return v;
    };
    return new PropNet(file, model, num('vprop.crop'), num('vprop.margin'), num('vprop.min_side'));
  }

  /** Raw network: input planar `N x 4 x h x w` (see `netInput`), logits `N x h x w`. */
  async run(input: Float32Array, N: number, h: number, w: number): Promise<Float32Array> {
    const out = await this.model.run({ input: { data: input, dims: [N, 4, h, w] } }, ['logit']);
    return out.logit.data;
  }

  /**
   * Logits over the frame (`K x H x W`, clamped to ±`clamp`, `-clamp` outside each region) of K
   * objects from their coarse probabilities (`K x H x W`) and the frame (planar RGB 0..255). An
   * object whose coarse probability nowhere exceeds 0.5 is absent (`-clamp` everywhere).
   */
  async refine(rgb: Float32Array, coarse: Float32Array, K: number, W: number, H: number, clamp: number): Promise<Float32Array> {
    const n = W * H;
    const S = this.crop;
    const s2 = S * S;
    const out = new Float32Array(K * n).fill(-clamp);
    const boxes: Array<{ k: number; box: RoiBox }> = [];
    for (let k = 0; k < K; k++) {
      const box = roiBox(coarse.subarray(k * n, (k + 1) * n), W, H, this.margin, this.minSide);
      if (box) boxes.push({ k, box });
    }
    if (boxes.length === 0) return out;
    const input = new Float32Array(boxes.length * 4 * s2);
    boxes.forEach(({ k, box }, i) => {
      const rgbCrop = cropResize(rgb, 3, W, H, box, S);
      const pCrop = cropResize(coarse.subarray(k * n, (k + 1) * n), 1, W, H, box, S);
      input.set(netInput(rgbCrop, pCrop), i * 4 * s2);
    });
    const logits = await this.run(input, boxes.length, S, S);
    boxes.forEach(({ k, box }, i) => {
      const z = logits.subarray(i * s2, (i + 1) * s2).map((v) => Math.max(-clamp, Math.min(clamp, v)));
      out.set(pasteLogits(z, S, box, W, H, -clamp), k * n);
    });
    return out;
  }

  release(): Promise<void> {
    return this.model.release();
  }
}

/** The network's input (`4 x s x s`): RGB / 127.5 − 1, then 2p − 1. */
export function netInput(rgbCrop: Float32Array, probCrop: Float32Array): Float32Array {
  const m = probCrop.length;
  const x = new Float32Array(4 * m);
  for (let i = 0; i < 3 * m; i++) x[i] = rgbCrop[i] / 127.5 - 1;
  for (let i = 0; i < m; i++) x[3 * m + i] = 2 * probCrop[i] - 1;
  return x;
}
