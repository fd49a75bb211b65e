/**
 * Colour: the property is the CIE Lab chroma (a, b); lightness always comes from the target frame
 * itself (the user's grey or colour video), so only chroma is propagated.
 */
import { InputError } from '../../core/errors.js';
import type { PropertyMap, RgbFrame } from '../../core/types.js';
import { labToRgb, rgbToLab } from '../../formats/color.js';
import { requireSize } from '../annotation.js';
import { propertyKeyframe } from '../mask/index.js';
import type { TaskDefinition } from '../types.js';

/** The colour key-frame's chroma as a 2-channel property map. */
export function colorToProperty(color: RgbFrame): PropertyMap {
  const n = color.width * color.height;
  const lab = rgbToLab(color.data, n);
  return { width: color.width, height: color.height, channels: 2, data: lab.slice(n, 3 * n) };
}

/** The target's lightness with the propagated chroma. */
export function composeColor(target: RgbFrame, ab: PropertyMap): RgbFrame {
  const n = target.width * target.height;
  if (ab.width !== target.width || ab.height !== target.height || ab.channels !== 2) {
    throw new RangeError('colour property must be 2 channels at the frame size');
  }
  const lab = rgbToLab(target.data, n);
  lab.set(ab.data.subarray(0, 2 * n), n);
  return { width: target.width, height: target.height, data: labToRgb(lab, n) };
}

export const colorTask: TaskDefinition = {
  name: 'color',
  description: 'colour (CIE Lab chroma propagated, lightness from each frame)',
  kind: 'values',
  accepts: '`color` (the key-frame in colour) or `property`',
  partialKeyframes: false,

  keyframe(a, size, ctx) {
    if ('property' in a) return propertyKeyframe(a.property, size, ctx);
    if (!('color' in a))
      throw new InputError(ctx.source, `a colour key-frame needs \`color\` (the key-frame in colour), got ${Object.keys(a).join(', ')}`);
    requireSize(a.color, size, ctx);
    const p = colorToProperty(a.color);
    return { ids: [], empty: false, property: () => p };
  },

  layout: () => ({ channels: 2 }),

  async toResult(p, _layout, frame, keyframe) {
    // A colour key-frame is returned exactly as given (its own lightness included).
    const rgb = keyframe && 'color' in keyframe ? keyframe.color : composeColor(await frame(), p);
    return { rgb };
  },

  refinements: {},
};
