/** HDR radiance: the property is log(H + 0.01) per linear RGB channel (DESIGN), guided by the LDR video. */
import { InputError } from '../../core/errors.js';
import type { PropertyMap, RadianceImage } from '../../core/types.js';
import { requireSize } from '../annotation.js';
import { propertyKeyframe } from '../mask/index.js';
import type { TaskDefinition } from '../types.js';

/** Offset inside the log so that black pixels stay finite (DESIGN: HDR property = log(H + 0.01)). */
export const HDR_LOG_EPSILON = 0.01;

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

  refinements: {},
};
