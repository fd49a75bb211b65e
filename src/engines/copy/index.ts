import type { PropertyMap } from '../../core/types.js';
import { nearestKeyframe } from '../../memory/policy.js';
import type { Engine, EngineRegistration, Guide } from '../types.js';

/**
 * The floor every real engine must beat: the target takes the property of the nearest guide
 * (in frame distance) unchanged. Its guide is the pass's key-frame, so it copies the nearest
 * key-frame on each side, and the session's two-direction merge blends them.
 */
export const copyEngine: EngineRegistration = {
  name: 'copy',
  description: "the nearest key-frame's property, unchanged (the floor every engine must beat)",
  tasks: ['mask', 'labels', 'color', 'hdr'],
  options: {},
  preference: { mask: 0, labels: 0, color: 0, hdr: 0 },
  create: ({ signature }) => createCopyEngine(signature),
};

export function createCopyEngine(signature = 'copy'): Engine {
  return {
    name: 'copy',
    tasks: copyEngine.tasks,
    guides: nearestKeyframe(),
    signature,
    needsKeyframes: true,
    async predict(target, guides): Promise<PropertyMap> {
      if (guides.length === 0) throw new Error('copy engine: no guide frame to copy from');
      let best: Guide = guides[0];
      for (const g of guides) {
        if (Math.abs(g.index - target.index) < Math.abs(best.index - target.index)) best = g;
      }
      const p = best.property;
      return { width: p.width, height: p.height, channels: p.channels, data: p.data.slice(), confidence: p.confidence?.slice() };
    },
  };
}
