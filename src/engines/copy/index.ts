import type { Engine, Guide, PropertyMap } from '../types.js';

/**
 * The floor every real engine must beat: the target takes the property of the nearest guide
 * (in frame distance) unchanged. With guides = [nearest key-frame], this copies the key-frame.
 */
export function createCopyEngine(): Engine {
  return {
    name: 'copy',
    tasks: ['mask', 'labels', 'color', 'hdr'],
    guides: { previous: 1 },
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
