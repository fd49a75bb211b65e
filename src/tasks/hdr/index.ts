/** HDR radiance: the property is log(H + 0.01) per linear RGB channel (DESIGN), guided by the LDR video. */
import { InputError } from '../../core/errors.js';
import { requireSize } from '../annotation.js';
import { propertyKeyframe } from '../mask/index.js';
import type { TaskDefinition } from '../types.js';
import { blendLdrIntoProperty, constrainToLdr } from './ldr.js';
import { propertyToRadiance, radianceToProperty } from './radiance.js';

export { HDR_LOG_EPSILON, propertyToRadiance, radianceToProperty } from './radiance.js';

export const hdrTask: TaskDefinition = {
  name: 'hdr',
  description: 'HDR radiance (log radiance propagated, guided by the LDR video)',
  kind: 'values',
  accepts: '`radiance` (linear HDR RGB of the key-frame) or `property`',
  partialKeyframes: false,

  keyframe(a, size, ctx) {
    if ('property' in a) return propertyKeyframe(a.property, size, ctx);
    if (!('radiance' in a))
      throw new InputError(ctx.source, `an hdr key-frame needs \`radiance\` (linear HDR RGB), got ${Object.keys(a).join(', ')}`);
    requireSize(a.radiance, size, ctx);
    const p = radianceToProperty(a.radiance);
    return { ids: [], empty: false, property: () => p };
  },

  layout: () => ({ channels: 3 }),

  async toResult(p) {
    return { radiance: propertyToRadiance(p) };
  },

  // The LDR frame measures the radiance wherever it is well exposed: `ldr-blend` puts that
  // measurement in (the seed's rule, tasks/hdr/ldr.ts), `ldr-constrain` clamps into the range each
  // 8-bit code allows (exact for an sRGB camera; real video needs slack).
  refinements: {
    'ldr-blend': (p, frame) => blendLdrIntoProperty(p, frame).result,
    'ldr-constrain': (p, frame) => constrainToLdr(p, frame).result,
  },
};
