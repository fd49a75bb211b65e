/** The HDR property: planar log(H + 0.01) per linear RGB channel, and back. */
import type { PropertyMap, RadianceImage } from '../../core/types.js';

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
