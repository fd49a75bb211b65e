/** Semantic labels: class id per pixel. Property = C class probabilities, channel c = class c. */
import { InputError } from '../../core/errors.js';
import { labelsAtSize } from '../annotation.js';
import { labelIds, labelsToProbabilities, probabilitiesToLabels } from '../maps.js';
import { propertyKeyframe } from '../mask/index.js';
import { refineWithCrf } from '../refine.js';
import type { TaskDefinition } from '../types.js';

export const labelsTask: TaskDefinition = {
  name: 'labels',
  description: 'semantic labels (class id per pixel)',
  kind: 'probabilities',
  accepts: '`labels` (class id per pixel) or `property`',
  partialKeyframes: false,

  keyframe(a, size, ctx) {
    if ('property' in a) return propertyKeyframe(a.property, size, ctx);
    if (!('labels' in a))
      throw new InputError(ctx.source, `a labels key-frame needs \`labels\` (class id per pixel), got ${Object.keys(a).join(', ')}`);
    const labels = labelsAtSize(a.labels, size, ctx, 'label map');
    // Class 0 is a class like any other: a key-frame of one class is not empty.
    return { ids: [0, ...labelIds(labels)], empty: false, property: (layout) => labelsToProbabilities(labels, layout.channels) };
  },

  layout(ids) {
    return { channels: Math.max(2, ...ids.map((i) => i + 1)) };
  },

  async toResult(p) {
    return { labels: probabilitiesToLabels(p) };
  },

  refinements: { crf: (p, frame) => refineWithCrf(p, frame) },
};
