/**
 * ImageNet features for the engines: the MobileNetV2 trunk of nsfwjs (layers up to block_10, the
 * frozen ImageNet part), converted once to the bundled `mobilenetv2-s16.onnx` by
 * `scripts/convert-backbone.ts` (how and why: training/README.md, "ImageNet backbone").
 *
 * `extractFeatures(frame)` returns three planar `C x H x W` float maps:
 *   s4  = block_2_add          24 channels, 1/4 of the network input
 *   s8  = block_5_add          32 channels, 1/8
 *   s16 = block_10_project_BN  96 channels, 1/16
 *
 * Input handling: the frame is optionally shrunk (area average) so its longer side is at most
 * `maxSize`, then padded at the bottom/right to a multiple of 16 by replicating the edge pixels
 * (default; zero padding, black, would put an artificial edge into the features along the border),
 * and each output is cropped to `ceil(size / stride)` cells: cell `i` of level `s` covers network
 * pixels `[s*i, s*(i+1))`, and its receptive field is centred on pixel `s*i + s - 1` (Keras pads
 * its stride-2 convs by one pixel at the bottom/right only). Network pixels map to frame pixels by
 * `frame.width / inputWidth` (1 without `maxSize`).
 *
 * Caching per frame: `cachedBackboneFeatures(store, index, frame, backbone)` keeps the result in a
 * store with `get`/`set` (the session's frame-indexed FeatureStore fits; declared structurally here
 * because memory/ sits above models/), marked spillable, and shares one computation among
 * concurrent callers.
 */
import type { RgbFrame } from '../core/types.js';
import { type LoadModelOptions, loadModel, type OnnxModel } from './session.js';
import { bundledModelPath } from './weights.js';

/** One feature level: planar `channels x height x width`. */
export interface FeatureMap {
  readonly channels: number;
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
  /** Network-input pixels per cell. */
  readonly stride: number;
}

export interface BackboneFeatures {
  readonly s4: FeatureMap;
  readonly s8: FeatureMap;
  readonly s16: FeatureMap;
  /** The size fed to the network before padding (the frame's size unless `maxSize` shrank it). */
  readonly inputWidth: number;
  readonly inputHeight: number;
}

export type BackbonePadding = 'replicate' | 'zero';

export interface BackboneOptions extends LoadModelOptions {
  /** Shrink frames so the longer side is at most this many pixels (default: no limit). */
  readonly maxSize?: number;
  /** How the frame is padded to a multiple of 16 (default 'replicate'). */
  readonly padding?: BackbonePadding;
}

/** The bundled model's registry name (src/models/weights.ts). */
export const BACKBONE_MODEL = 'mobilenetv2-backbone';
export const BACKBONE_LEVELS = [
  { name: 's4', stride: 4, channels: 24 },
  { name: 's8', stride: 8, channels: 32 },
  { name: 's16', stride: 16, channels: 96 },
] as const;
const MULTIPLE = 16;

export class Backbone {
  readonly maxSize: number | undefined;
  readonly padding: BackbonePadding;

  constructor(
    readonly model: OnnxModel,
    opts: Pick<BackboneOptions, 'maxSize' | 'padding'> = {},
  ) {
    const outs = new Set(model.outputs.map((o) => o.name));
    const missing = BACKBONE_LEVELS.filter((l) => !outs.has(l.name)).map((l) => l.name);
    if (model.inputs[0]?.name !== 'image' || missing.length)
      throw new Error(
        `${model.source}: not a backbone model (needs input "image" and outputs s4, s8, s16; missing ${missing.join(', ') || 'image'})`,
      );
    if (opts.maxSize !== undefined && !(Number.isInteger(opts.maxSize) && opts.maxSize >= MULTIPLE))
      throw new RangeError(`backbone: maxSize must be an integer >= ${MULTIPLE}, got ${opts.maxSize}`);
    this.maxSize = opts.maxSize;
    this.padding = opts.padding ?? 'replicate';
  }

  /** Load the bundled model (Node), or `source` (a path or bytes; pass `runtime` in a browser). */
  static async load(opts: BackboneOptions & { readonly source?: string | Uint8Array } = {}): Promise<Backbone> {
    const model = await loadModel(opts.source ?? (await bundledModelPath(BACKBONE_MODEL)), opts);
    return new Backbone(model, opts);
  }

  /** Identifies what `extractFeatures` computes (cache key). */
  get key(): string {
    return `backbone:mobilenetv2-s16:${this.maxSize ?? 'full'}:${this.padding}`;
  }

  async extractFeatures(frame: RgbFrame): Promise<BackboneFeatures> {
    const { width: fw, height: fh } = frame;
    if (!(fw > 0 && fh > 0) || frame.data.length !== fw * fh * 3)
      throw new RangeError(`backbone: frame has ${frame.data.length} bytes, expected ${fw}x${fh}x3`);
    const input = this.maxSize !== undefined && Math.max(fw, fh) > this.maxSize ? shrinkRgb(frame, this.maxSize) : frame;
    const { width: W, height: H } = input;
    const Wp = Math.ceil(W / MULTIPLE) * MULTIPLE;
    const Hp = Math.ceil(H / MULTIPLE) * MULTIPLE;
    const image = padPlanar(input, Wp, Hp, this.padding);
    const out = await this.model.run({ image: { data: image, dims: [1, 3, Hp, Wp] } });
    const level = (name: string, stride: number, channels: number): FeatureMap => {
      const t = out[name];
      const [, C, h, w] = t.dims;
      if (C !== channels || h !== Hp / stride || w !== Wp / stride)
        throw new Error(
          `${this.model.source}: output ${name} is [${t.dims.join(', ')}], expected [1, ${channels}, ${Hp / stride}, ${Wp / stride}]`,
        );
      return { channels, ...cropPlanar(t.data, C, w, h, Math.ceil(W / stride), Math.ceil(H / stride)), stride };
    };
    const [l4, l8, l16] = BACKBONE_LEVELS;
    return {
      s4: level(l4.name, l4.stride, l4.channels),
      s8: level(l8.name, l8.stride, l8.channels),
      s16: level(l16.name, l16.stride, l16.channels),
      inputWidth: W,
      inputHeight: H,
    };
  }

  release(): Promise<void> {
    return this.model.release();
  }
}

/** The part of a frame-indexed feature store that the cache helper needs (memory/FeatureStore fits). */
export interface FeatureCache {
  get<T>(index: number, key: string): T | undefined;
  set<T>(index: number, key: string, value: T, opts?: { readonly spill?: boolean }): T;
}

const inFlight = new WeakMap<FeatureCache, Map<string, Promise<BackboneFeatures>>>();

/**
 * The backbone features of frame `index`, from `store` or computed and stored (spillable: typed
 * arrays and numbers only). Concurrent requests for one frame share a single run.
 */
export async function cachedBackboneFeatures(
  store: FeatureCache,
  index: number,
  frame: RgbFrame,
  backbone: Backbone,
): Promise<BackboneFeatures> {
  const key = backbone.key;
  const hit = store.get<BackboneFeatures>(index, key);
  if (hit) return hit;
  let pending = inFlight.get(store);
  if (!pending) {
    pending = new Map();
    inFlight.set(store, pending);
  }
  const id = `${index}\n${key}`;
  const running = pending.get(id);
  if (running) return running;
  const p = backbone
    .extractFeatures(frame)
    .then((f) => store.set(index, key, f, { spill: true }))
    .finally(() => pending.delete(id));
  pending.set(id, p);
  return p;
}

/** Interleaved RGB → planar 3 x Hp x Wp float (0..255), padded at the bottom/right. */
function padPlanar(frame: RgbFrame, Wp: number, Hp: number, padding: BackbonePadding): Float32Array {
  const { width: W, height: H, data } = frame;
  const plane = Wp * Hp;
  const out = new Float32Array(3 * plane);
  const rows = padding === 'replicate' ? Hp : H;
  for (let y = 0; y < rows; y++) {
    const sy = Math.min(y, H - 1);
    const cols = padding === 'replicate' ? Wp : W;
    for (let x = 0; x < cols; x++) {
      const s = (sy * W + Math.min(x, W - 1)) * 3;
      const d = y * Wp + x;
      out[d] = data[s];
      out[plane + d] = data[s + 1];
      out[2 * plane + d] = data[s + 2];
    }
  }
  return out;
}

/** The top-left `w x h` of each channel of a planar `C x H x W` array. */
function cropPlanar(
  src: Float32Array,
  C: number,
  W: number,
  H: number,
  w: number,
  h: number,
): { width: number; height: number; data: Float32Array } {
  if (w === W && h === H) return { width: w, height: h, data: src };
  const data = new Float32Array(C * w * h);
  for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) data.set(src.subarray(c * W * H + y * W, c * W * H + y * W + w), (c * h + y) * w);
  return { width: w, height: h, data };
}

/**
 * Area-average shrink so the longer side is `maxSide` (each output pixel is the mean of the
 * source area it covers, fractional at the edges): anti-aliased, unlike plain bilinear sampling.
 * Local because models/ may not import ops/ (same layer).
 */
function shrinkRgb(frame: RgbFrame, maxSide: number): RgbFrame {
  const { width: W, height: H, data } = frame;
  const s = maxSide / Math.max(W, H);
  const w = Math.max(1, Math.round(W * s));
  const h = Math.max(1, Math.round(H * s));
  const xs = coverage(W, w);
  const ys = coverage(H, h);
  const row = new Float64Array(w * 3);
  const out = new Uint8Array(w * h * 3);
  for (let oy = 0; oy < h; oy++) {
    row.fill(0);
    for (const [sy, wy] of ys[oy]) {
      for (let ox = 0; ox < w; ox++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (const [sx, wx] of xs[ox]) {
          const p = (sy * W + sx) * 3;
          r += data[p] * wx;
          g += data[p + 1] * wx;
          b += data[p + 2] * wx;
        }
        row[ox * 3] += r * wy;
        row[ox * 3 + 1] += g * wy;
        row[ox * 3 + 2] += b * wy;
      }
    }
    for (let i = 0; i < w * 3; i++) out[oy * w * 3 + i] = Math.min(255, Math.round(row[i]));
  }
  return { width: w, height: h, data: out };
}

/** For each of `n` output cells, the source indices it overlaps and their weights (summing to 1). */
function coverage(N: number, n: number): Array<Array<[number, number]>> {
  const scale = N / n;
  const cells: Array<Array<[number, number]>> = [];
  for (let i = 0; i < n; i++) {
    const a = i * scale;
    const b = Math.min(N, (i + 1) * scale);
    const taps: Array<[number, number]> = [];
    for (let j = Math.floor(a); j < Math.ceil(b); j++) {
      const wgt = Math.min(b, j + 1) - Math.max(a, j);
      if (wgt > 1e-9) taps.push([j, wgt / (b - a)]);
    }
    cells.push(taps);
  }
  return cells;
}
