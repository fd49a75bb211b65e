import type { RgbFrame } from '../video/types.js';

/**
 * What is propagated. The property-map layout per task (planar Float32, channel-major C x H x W):
 * - `mask`:   K+1 object probabilities, background first (channel k = object id k).
 * - `labels`: C class probabilities (channel c = class id c).
 * - `color`:  CIE Lab `a, b` (2 channels, Lab units).
 * - `hdr`:    `log(H + 0.01)` of linear radiance per RGB channel (3 channels).
 */
export type Task = 'mask' | 'labels' | 'color' | 'hdr';

export interface PropertyMap {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Planar, `data[c * width * height + y * width + x]`. */
  readonly data: Float32Array;
  /** Optional per-pixel confidence in [0, 1], `confidence[y * width + x]`. */
  readonly confidence?: Float32Array;
}

/** An earlier or later frame whose property map is known (given or already predicted). */
export interface Guide {
  readonly index: number;
  readonly frame: RgbFrame;
  readonly property: PropertyMap;
  /** True for a user-given key-frame, false for a frame the engine predicted earlier. */
  readonly isKeyframe: boolean;
}

export interface EngineContext {
  readonly task: Task;
  readonly signal?: AbortSignal;
}

/**
 * One interface for every method: given a target frame and guides, what is the target's property
 * map? `y_t = P(x_t, {(x_g, y_g)})`. Engines hold no per-video state beyond what they document;
 * the session decides which guides to pass (see `GuideRequest`).
 */
export interface Engine {
  readonly name: string;
  readonly tasks: readonly Task[];
  /** Which guides the engine wants (see GuideRequest); guides arrive nearest first. */
  readonly guides: GuideRequest;
  predict(target: { index: number; frame: RgbFrame }, guides: readonly Guide[], ctx: EngineContext): Promise<PropertyMap>;
  dispose?(): void | Promise<void>;
}

export interface GuideRequest {
  /** Number of most recent frames (in propagation order) the engine wants, at least 1. */
  readonly previous: number;
  /**
   * Also pass the pass's source key-frame when it has left the window of recent frames (a
   * permanent reference, as XMem++ keeps). Default false: VPN-style engines see only the window.
   */
  readonly keyframe?: boolean;
}
