import { InputError } from '../core/errors.js';
import type { IndexedFrame, RgbFrame } from '../core/types.js';
import type { FrameSource } from './types.js';

/**
 * A FrameSource over frames produced on demand by `render(index)` (an in-memory array, a
 * synthetic scene). Memory is whatever `render` keeps; nothing is cached here.
 */
export function sourceFromRenderer(
  count: number,
  render: (index: number) => RgbFrame,
  opts: { origin?: string; fps?: number } = {},
): FrameSource {
  if (count < 1) throw new InputError(opts.origin ?? '<frames>', 'a video needs at least one frame');
  const first = render(0);
  const { width, height } = first;
  const origin = opts.origin ?? '<frames>';
  const get = (index: number): IndexedFrame => {
    if (!Number.isInteger(index) || index < 0 || index >= count) {
      throw new RangeError(`${origin}: frame ${index} is outside 0..${count - 1}`);
    }
    const f = index === 0 ? first : render(index);
    if (f.width !== width || f.height !== height) {
      throw new InputError(origin, `frame ${index} is ${f.width}x${f.height}, frame 0 is ${width}x${height}`);
    }
    return { index, width, height, data: f.data };
  };
  async function* frames(from = 0, to = count): AsyncGenerator<IndexedFrame> {
    for (let i = Math.max(0, from); i < Math.min(to, count); i++) yield get(i);
  }
  return {
    info: { kind: 'iterable', origin, width, height, frameCount: count, fps: opts.fps },
    frame: async (i) => get(i),
    frames,
    [Symbol.asyncIterator]: () => frames(),
    close: async () => {},
  };
}

/** A FrameSource over an array of frames held in memory. */
export function sourceFromFrames(frames: readonly RgbFrame[], opts: { origin?: string; fps?: number } = {}): FrameSource {
  return sourceFromRenderer(frames.length, (i) => frames[i], opts);
}
