/**
 * The one interface every method implements: given a target frame and guides (frames whose
 * property maps are known, given or predicted earlier), what is the target's property map?
 * `y_t = P(x_t, {(x_g, y_g)})`. Engines keep per-frame analysis in the session's feature store
 * (keyed by frame index), not in private caches, and declare themselves through a registration
 * (name, tasks, option schema) so that every surface can list, configure and validate them.
 */
import type { OptionSchema } from '../core/options.js';
import type { PropertyMap, RgbFrame, Task } from '../core/types.js';
import type { FeatureStore } from '../memory/features.js';
import type { GuidePolicy } from '../memory/policy.js';
import type { ChannelLayout } from '../tasks/types.js';

/** An earlier or later frame whose property map is known (given or already predicted). */
export interface Guide {
  readonly index: number;
  readonly frame: RgbFrame;
  readonly property: PropertyMap;
  /** True for a user-given key-frame, false for a frame the engine predicted earlier. */
  readonly isKeyframe: boolean;
  /**
   * Identity of this guide's property map within the session (a key-frame's content version, or
   * the pass and frame that predicted it): feature-store keys of values derived from the map.
   */
  readonly key: string;
}

export interface Target {
  readonly index: number;
  readonly frame: RgbFrame;
}

export interface EngineContext {
  readonly task: Task;
  /** Channel layout of the property maps (masks: which object id each channel is). */
  readonly layout: ChannelLayout;
  /** Per-frame values shared by every prediction of the session (bounded, spilled). */
  readonly features: FeatureStore;
  /** The `key` the prediction will carry when it guides later frames. */
  readonly resultKey: string;
  /** +1 for a forward pass (guides are earlier frames), -1 for a backward pass. */
  readonly direction: 1 | -1;
  readonly signal?: AbortSignal;
}

/**
 * Per-frame work an engine can have done ahead of the propagation, off the main thread: it
 * depends on the frame alone (not on any guide or prediction), so a pool of workers can compute it
 * for the next frames while the engine propagates the current one. The module is loaded inside the
 * worker; `prepareFrame(frame, index, options)` returns feature-store values by key, which the
 * session stores under the frame's index before the engine sees the frame — the engine then finds
 * them with `getOrCompute` exactly as if it had computed them (and computes them itself when no
 * pool runs).
 */
export interface FramePreparation {
  /** URL of an ES module exporting `prepareFrame` (a `PrepareFrame`). */
  readonly module: string;
  /** Structured-cloneable options handed to `prepareFrame`. */
  readonly options: unknown;
}

/**
 * What a preparation module exports as `prepareFrame`. The typed arrays it returns are transferred
 * to the main thread, so none may share its buffer with state the module keeps (workspaces).
 */
export type PrepareFrame = (frame: RgbFrame, index: number, options: unknown) => Record<string, unknown> | Promise<Record<string, unknown>>;

export interface FitContext {
  readonly task: Task;
  readonly layout: ChannelLayout;
  readonly features: FeatureStore;
  readonly signal?: AbortSignal;
}

export interface Engine {
  readonly name: string;
  readonly tasks: readonly Task[];
  /** Which guides the engine wants (memory/policy.ts); the session may be told to use another. */
  readonly guides: GuidePolicy;
  /** Signature of the effective options: results cached under another signature are never reused. */
  readonly signature: string;
  /**
   * False for engines that can predict a frame with no guide at all (GRFP's per-frame protocol):
   * the session then propagates a video that has no key-frame.
   */
  readonly needsKeyframes: boolean;
  /**
   * Adapt to the annotated frames before propagating (online appearance models, learned mixing
   * weights). Called with every key-frame (at the engine's working size) whenever the set of
   * key-frames changed; results then depend on all key-frames.
   */
  fit?(keyframes: readonly Guide[], ctx: FitContext): Promise<void>;
  predict(target: Target, guides: readonly Guide[], ctx: EngineContext): Promise<PropertyMap>;
  /** The task's frame-only work that a worker pool may do ahead (see FramePreparation); none when undefined. */
  prepare?(task: Task, frameSize: { readonly width: number; readonly height: number }): FramePreparation | undefined;
  dispose?(): void | Promise<void>;
}

/** Options after parsing against the schema: effective values (defaults filled) and their signature. */
export interface EngineOptions<O = Record<string, unknown>> {
  readonly values: O;
  readonly signature: string;
}

export interface EngineRegistration {
  readonly name: string;
  /** One line for help texts: the method and what it needs. */
  readonly description: string;
  readonly tasks: readonly Task[];
  readonly options: OptionSchema;
  /** False when the engine can run without key-frames (see Engine.needsKeyframes). Default true. */
  readonly needsKeyframes?: boolean;
  /** Preference as the default engine of a task (higher wins; absent = never the default). */
  readonly preference?: Partial<Record<Task, number>>;
  create(options: EngineOptions): Engine;
}
