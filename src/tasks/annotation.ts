import type { PropertyMap, Task } from '../engines/types.js';
import { labToRgb, rgbToLab } from '../formats/color.js';
import type { LabelImage, RgbFrame } from '../video/types.js';
import { labelsToProbabilities, maxLabel } from './maps.js';

/** Linear radiance image, interleaved RGB `data[(y * width + x) * 3 + c]`. */
export interface RadianceImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/**
 * What a user gives on a key-frame. Which forms a task accepts:
 * - mask:   `mask` (object id per pixel) or `objects` (object id → binary mask, row-major 0/1)
 * - labels: `labels` (class id per pixel)
 * - color:  `color` (the key-frame in colour)
 * - hdr:    `radiance` (linear HDR radiance of the key-frame)
 * - any:    `property` (a ready property map in the task's layout)
 */
export type Annotation =
  | { readonly mask: LabelImage }
  | { readonly objects: ReadonlyMap<number, Uint8Array> }
  | { readonly labels: LabelImage }
  | { readonly color: RgbFrame }
  | { readonly radiance: RadianceImage }
  | { readonly property: PropertyMap };

/** Offset inside the log so that black pixels stay finite (DESIGN: HDR property = log(H + 0.01)). */
export const HDR_LOG_EPSILON = 0.01;

/** Label image of an annotation for the mask/labels tasks, or undefined for other forms. */
export function annotationLabels(a: Annotation, width: number, height: number): LabelImage | undefined {
  if ('mask' in a) return a.mask;
  if ('labels' in a) return a.labels;
  if ('objects' in a) {
    const data = new Uint8Array(width * height);
    // Later (higher) ids win where objects overlap: palette masks cannot represent overlap.
    const ids = [...a.objects.keys()].sort((x, y) => x - y);
    for (const id of ids) {
      if (id < 1 || id > 255) throw new RangeError(`object id ${id} is outside 1..255`);
      const m = a.objects.get(id) as Uint8Array;
      if (m.length !== width * height) throw new RangeError(`object ${id} mask has ${m.length} pixels, expected ${width * height}`);
      for (let i = 0; i < m.length; i++) if (m[i]) data[i] = id;
    }
    return { width, height, data };
  }
  return undefined;
}

/** Number of probability channels an annotation needs (max id + 1), 0 for value tasks. */
export function annotationChannels(a: Annotation, width: number, height: number): number {
  if ('property' in a) return a.property.channels;
  const labels = annotationLabels(a, width, height);
  return labels ? maxLabel(labels) + 1 : 0;
}

/**
 * Convert an annotation to the task's property map at the annotation's own size.
 * `channels` fixes the probability channel count for mask/labels (the session uses the maximum
 * over all key-frames so every map has the same layout).
 */
export function annotationToProperty(task: Task, a: Annotation, width: number, height: number, channels: number): PropertyMap {
  if ('property' in a) return a.property;
  const expectSize = (w: number, h: number, what: string): void => {
    if (w !== width || h !== height) throw new RangeError(`${what} is ${w}x${h} but the video is ${width}x${height}`);
  };
  switch (task) {
    case 'mask':
    case 'labels': {
      const labels = annotationLabels(a, width, height);
      if (!labels) throw new TypeError(`a ${task} key-frame needs ${task === 'mask' ? '`mask` or `objects`' : '`labels`'}`);
      expectSize(labels.width, labels.height, 'the annotation');
      return labelsToProbabilities(labels, channels);
    }
    case 'color': {
      if (!('color' in a)) throw new TypeError('a color key-frame needs `color` (the key-frame in colour)');
      expectSize(a.color.width, a.color.height, 'the colour key-frame');
      const n = width * height;
      const lab = rgbToLab(a.color.data, n);
      return { width, height, channels: 2, data: lab.slice(n, 3 * n) };
    }
    case 'hdr': {
      if (!('radiance' in a)) throw new TypeError('an hdr key-frame needs `radiance` (linear HDR RGB)');
      expectSize(a.radiance.width, a.radiance.height, 'the radiance key-frame');
      return radianceToProperty(a.radiance);
    }
  }
}

/** HDR property: planar `log(H + 0.01)` per RGB channel. */
export function radianceToProperty(r: RadianceImage): PropertyMap {
  const n = r.width * r.height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[c * n + i] = Math.log(Math.max(0, r.data[i * 3 + c]) + HDR_LOG_EPSILON);
  }
  return { width: r.width, height: r.height, channels: 3, data };
}

/** Inverse of `radianceToProperty`. */
export function propertyToRadiance(p: PropertyMap): RadianceImage {
  const n = p.width * p.height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[i * 3 + c] = Math.max(0, Math.exp(p.data[c * n + i]) - HDR_LOG_EPSILON);
  }
  return { width: p.width, height: p.height, data };
}

/**
 * Colour result: lightness L from the target frame itself (the user's grey or colour video),
 * chroma a,b from the propagated property.
 */
export function composeColor(target: RgbFrame, ab: PropertyMap): RgbFrame {
  const n = target.width * target.height;
  if (ab.width !== target.width || ab.height !== target.height || ab.channels !== 2) {
    throw new RangeError('colour property must be 2 channels at the frame size');
  }
  const lab = rgbToLab(target.data, n);
  lab.set(ab.data.subarray(0, 2 * n), n);
  return { width: target.width, height: target.height, data: labToRgb(lab, n) };
}
