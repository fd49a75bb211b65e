/**
 * One STGRU step (ANCHORS §8.1) with the warping done here, in TypeScript, and the learned cell
 * run from an ONNX file exported by training/ (see training/vprop_train/stgru.py):
 *
 *   F      = computeFlow(I_{t-1}, I_t)            backward flow, cur → prev, planar (dy, dx)
 *   Ĩ      = warp(I_{t-1}, F)                     §8.1 step 2, zero-border bilinear (§8.2)
 *   h̃      = warp(p_{t-1} − 1/C, F)                steps 1 and 4: p_{t-1} = softmax(h_{t-1})
 *   x      = log(max(q_t, floor))                 per-frame probabilities q_t as scores
 *   h_t, r = cell(I_t, Ĩ, h̃, x)                   ONNX
 *   p_t    = softmax(h_t)                         what the engine stores as the property
 *
 * Storing p_t = softmax(h_t) (rather than h_t) loses nothing the next step needs: the cell only
 * ever reads softmax(h_{t-1}). At a key-frame p is the given (one-hot) map.
 */

import type { RgbFrame } from '../../core/types.js';
import type { FeatureStore } from '../../memory/features.js';
import type { OnnxModel } from '../../models/session.js';
import { logProbabilities, nchw, rgbToPlanar, softmaxChannels } from '../../models/tensor.js';
import { computeFlow } from '../../ops/flow.js';
import { warpBilinear } from '../../ops/warp.js';

export type FlowBackendOption = 'auto' | 'dis' | 'farneback';

/** What kind of cell an ONNX file holds (from its inputs and `vprop.*` metadata). */
export interface CellInfo {
  readonly kind: 'exact' | 'shared';
  /** Fixed class count of an exact cell; undefined for the channel-agnostic one. */
  readonly classes: number | undefined;
}

export function describeCell(model: OnnxModel): CellInfo {
  const names = model.inputs.map((i) => i.name).join(',');
  if (names !== 'image,prev_warped,h_warped,x' || !model.outputs.some((o) => o.name === 'h')) {
    throw new Error(`${model.source}: not a GRFP STGRU model (inputs ${names}; expected image, prev_warped, h_warped, x → h)`);
  }
  const c = model.inputs[3].shape[1];
  const kind = model.metadata.props['vprop.cell'] === 'exact' || typeof c === 'number' ? 'exact' : 'shared';
  return { kind, classes: typeof c === 'number' ? c : undefined };
}

export interface StepOptions {
  readonly flow?: FlowBackendOption;
  readonly preset?: 'fast' | 'medium';
  /** Floor of the per-frame probabilities before the log (default 1e-4). */
  readonly floor?: number;
}

export interface StepResult {
  /** softmax(h_t), planar C x H x W. */
  readonly probabilities: Float32Array;
  /** The reset gate r (H x W): 1 where the warped previous frame matches, → 0 where it does not. */
  readonly reset: Float32Array;
  /** The backward flow used (2 x H x W, dy then dx). */
  readonly flow: Float32Array;
}

/**
 * Per-frame values of one engine in the session's feature store: planar images and flows, keyed by
 * frame index (the flow by the pair of indices and the backend), so a frame's flow is computed once
 * even when a GRFP window revisits it for every later target.
 */
export class StepCache {
  constructor(private readonly features: FeatureStore) {}

  image(index: number, frame: RgbFrame): Float32Array {
    return this.features.getOrCompute(index, 'flowgru:image', () => rgbToPlanar(frame));
  }

  async flow(prevIndex: number, prev: RgbFrame, curIndex: number, cur: RgbFrame, opts: StepOptions): Promise<Float32Array> {
    const backend = opts.flow ?? 'auto';
    const preset = opts.preset ?? 'medium';
    const key = `flowgru:flow<-${prevIndex}:${backend}:${preset}`;
    const hit = this.features.get<Float32Array>(curIndex, key);
    if (hit) return hit;
    const r = await computeFlow(prev, cur, { backend, preset });
    return this.features.set(curIndex, key, r.flow);
  }
}

/**
 * One recurrence step from `prev` (frame and its probabilities p_{t-1}) to `cur` with the
 * per-frame probabilities `perFrame` (both C x H x W at the frame's size). `flow` may be given
 * (e.g. the exact synthetic flow); otherwise it is computed with the chosen backend, through
 * `cache` when the frames' indices are given.
 */
export async function stgruStep(
  model: OnnxModel,
  prev: { frame: RgbFrame; probabilities: Float32Array; index?: number },
  cur: { frame: RgbFrame; perFrame: Float32Array; index?: number },
  C: number,
  opts: StepOptions = {},
  cache?: StepCache,
  givenFlow?: Float32Array,
): Promise<StepResult> {
  const { width: W, height: H } = cur.frame;
  const n = W * H;
  if (prev.frame.width !== W || prev.frame.height !== H)
    throw new RangeError(`flowgru: frames differ in size (${prev.frame.width}x${prev.frame.height} vs ${W}x${H})`);
  if (prev.probabilities.length !== C * n)
    throw new RangeError(`flowgru: previous map has ${prev.probabilities.length} values, expected ${C}x${H}x${W}`);
  if (cur.perFrame.length !== C * n)
    throw new RangeError(`flowgru: per-frame map has ${cur.perFrame.length} values, expected ${C}x${H}x${W}`);
  const cached = cache && prev.index !== undefined && cur.index !== undefined;
  const flow =
    givenFlow ??
    (cached
      ? await cache.flow(prev.index as number, prev.frame, cur.index as number, cur.frame, opts)
      : (await computeFlow(prev.frame, cur.frame, { backend: opts.flow ?? 'auto', preset: opts.preset ?? 'medium' })).flow);
  const image = cached ? cache.image(cur.index as number, cur.frame) : rgbToPlanar(cur.frame);
  const prevImage = cached ? cache.image(prev.index as number, prev.frame) : rgbToPlanar(prev.frame);
  const prevWarped = warpBilinear(prevImage, 3, H, W, flow, 'zeros');
  const centred = new Float32Array(C * n);
  const inv = 1 / C;
  for (let i = 0; i < centred.length; i++) centred[i] = prev.probabilities[i] - inv;
  const hWarped = warpBilinear(centred, C, H, W, flow, 'zeros');
  const x = logProbabilities(cur.perFrame, opts.floor ?? 1e-4);
  const out = await model.run({
    image: nchw(image, 3, H, W),
    prev_warped: nchw(prevWarped, 3, H, W),
    h_warped: nchw(hWarped, C, H, W),
    x: nchw(x, C, H, W),
  });
  const h = out.h;
  if (h.data.length !== C * n) throw new Error(`${model.source}: output h has dims [${h.dims.join(', ')}], expected [1, ${C}, ${H}, ${W}]`);
  return { probabilities: softmaxChannels(h.data, C, n), reset: out.r ? out.r.data : new Float32Array(n).fill(1), flow };
}
