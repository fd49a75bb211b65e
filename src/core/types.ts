/**
 * The shared vocabulary of every layer: frames, label images, property maps, tasks, annotations.
 * This module sits at the bottom (it imports nothing), so formats, video, ops, tasks, engines and
 * the session all speak the same types without importing each other.
 */

/** Width and height of an image, in pixels. */
export interface Size {
  readonly width: number;
  readonly height: number;
}

/**
 * A decoded frame: interleaved 8-bit RGB, `data[(y * width + x) * 3 + c]`, c = 0 R, 1 G, 2 B.
 */
export interface RgbFrame extends Size {
  /** Interleaved RGB, length width * height * 3. */
  readonly data: Uint8Array;
}

/** A frame together with its 0-based index in its source. */
export interface IndexedFrame extends RgbFrame {
  readonly index: number;
}

/**
 * A label image: one object id (or class id) per pixel, row-major `data[y * width + x]`.
 * 0 is background. Used for masks (object ids) and semantic labels (class ids).
 */
export interface LabelImage extends Size {
  readonly data: Uint8Array;
}

/** Linear radiance image, interleaved RGB `data[(y * width + x) * 3 + c]`. */
export interface RadianceImage extends Size {
  readonly data: Float32Array;
}

/**
 * What is propagated. The property-map layout per task (planar Float32, channel-major C x H x W):
 * - `mask`:   K+1 object probabilities, background first; channel k is the k-th object id in
 *             ascending order (ids {1, 200} give 3 channels), see the session's `objectIds`.
 * - `labels`: C class probabilities (channel c = class id c).
 * - `color`:  CIE Lab `a, b` (2 channels, Lab units).
 * - `hdr`:    `log(H + 0.01)` of linear radiance per RGB channel (3 channels).
 */
export type Task = 'mask' | 'labels' | 'color' | 'hdr';

export const TASKS: readonly Task[] = ['mask', 'labels', 'color', 'hdr'];

export interface PropertyMap extends Size {
  readonly channels: number;
  /** Planar, `data[c * width * height + y * width + x]`. */
  readonly data: Float32Array;
  /** Optional per-pixel confidence in [0, 1], `confidence[y * width + x]`. */
  readonly confidence?: Float32Array;
}

/** A binary mask of one object: row-major 0/1 (any non-zero is inside). */
export type BinaryMask = Uint8Array | (Size & { readonly data: Uint8Array });

/**
 * What a user gives on a key-frame. Which forms a task accepts:
 * - mask:   `mask` (object id per pixel: the whole frame's truth) or `objects` (object id → binary
 *           mask: those objects only, others keep propagating; see the session's key-frame modes)
 * - labels: `labels` (class id per pixel)
 * - color:  `color` (the key-frame in colour)
 * - hdr:    `radiance` (linear HDR radiance of the key-frame)
 * - any:    `property` (a ready property map in the task's layout)
 */
export type Annotation =
  | { readonly mask: LabelImage }
  | { readonly objects: ReadonlyMap<number, BinaryMask> | Readonly<Record<number, BinaryMask>> }
  | { readonly labels: LabelImage }
  | { readonly color: RgbFrame }
  | { readonly radiance: RadianceImage }
  | { readonly property: PropertyMap };

/** Presence of one object in one result frame. */
export interface ObjectPresence {
  readonly id: number;
  /** True when at least one pixel's most likely object is this one. */
  readonly present: boolean;
  /** Pixels labelled with this object. */
  readonly pixels: number;
  /** Highest probability of the object anywhere in the frame (0 = certainly absent). */
  readonly score: number;
}
