import type { PropertyMap, RgbFrame } from '../core/types.js';
import { type DenseCrfOptions, denseCrf, unaryFromProbabilities } from '../ops/crf.js';

export type CrfSettings = Pick<DenseCrfOptions, 'gaussian' | 'bilateral' | 'iterations' | 'normalization'>;

/**
 * DenseCRF refinement of a probability map (masks or labels) with the frame as the bilateral
 * kernel's image: unary = −log(clip(p)), mean field with the given settings (pydensecrf demo
 * defaults, ANCHORS §6.4), returns the refined probabilities.
 */
export function refineWithCrf(p: PropertyMap, frame: RgbFrame, settings: CrfSettings = {}): PropertyMap {
  if (frame.width !== p.width || frame.height !== p.height) throw new RangeError('CRF: frame and map sizes differ');
  const q = denseCrf({
    unary: unaryFromProbabilities(p.data),
    M: p.channels,
    width: p.width,
    height: p.height,
    image: frame.data,
    ...settings,
  });
  return { width: p.width, height: p.height, channels: p.channels, data: q, confidence: p.confidence };
}
