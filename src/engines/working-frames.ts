/**
 * Per-frame values the flow-based engines (stpn, maskprop) share: a frame resized to the engine's
 * working size and the optical flow between two frames, both kept in the session's feature store
 * under the frame's index so a frame analysed as a target is not analysed again as a guide.
 */
import type { RgbFrame } from '../core/types.js';
import type { FeatureStore } from '../memory/features.js';
import { computeFlow, type FlowOptions } from '../ops/flow.js';
import { resizeBilinearInterleavedU8 } from '../ops/resize.js';

/** Frame `index` at W x H (bilinear; the frame itself when it already has that size). */
export function workingFrame(features: FeatureStore, index: number, frame: RgbFrame, W: number, H: number): RgbFrame {
  if (frame.width === W && frame.height === H) return frame;
  return features.getOrCompute(index, `frame:${W}x${H}`, () => ({
    width: W,
    height: H,
    data: resizeBilinearInterleavedU8(frame.data, 3, frame.width, frame.height, W, H),
  }));
}

/**
 * The flow between frames `from` (a) and `to` (b) with `computeFlow`'s conventions, stored under
 * frame `to`. `measure` wraps the computation (benchmarks' stage timers); cached flows skip it.
 */
export async function cachedFlow(
  features: FeatureStore,
  from: number,
  to: number,
  a: RgbFrame,
  b: RgbFrame,
  opts: Pick<FlowOptions, 'backend' | 'preset' | 'direction'>,
  measure: (compute: () => Promise<Float32Array>) => Promise<Float32Array> = (compute) => compute(),
): Promise<Float32Array> {
  const key = `flow:${opts.direction ?? 'backward'}:${from}->${to}:${opts.backend ?? 'auto'}:${opts.preset ?? 'medium'}:${b.width}x${b.height}`;
  const hit = features.get<Float32Array>(to, key);
  if (hit) return hit;
  const flow = await measure(async () => (await computeFlow(a, b, opts)).flow);
  return features.set(to, key, flow, { spill: true });
}
