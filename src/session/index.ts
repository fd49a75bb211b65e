import { createEngine, type Engine } from '../engines/index.js';
import type { Task } from '../engines/types.js';
import { openSource } from '../video/open.js';
import type { FrameSource, RgbFrame } from '../video/types.js';
import { PropagationSession, type SessionOptions } from './session.js';

export type { Direction, Progress, PropagateOptions, PropagationResult, SessionOptions } from './session.js';
export { mergeDirections, PropagationSession } from './session.js';

export interface OpenVideoOptions extends Omit<SessionOptions, 'engine' | 'task'> {
  /** What is propagated (default 'mask'). */
  readonly task?: Task;
  /** An engine object or a registered engine name (default 'copy'). */
  readonly engine?: Engine | string;
  readonly engineOptions?: Record<string, unknown>;
}

/**
 * Open a video for propagation, in the vocabulary of SAM 2:
 * `const v = await openVideo('clip.mp4', { engine: 'bilateral' }); v.addKeyframe(0, { mask });
 * for await (const r of v.propagate({ direction: 'both' })) ...; await v.dispose();`
 *
 * `source` is a video file, an image folder, a DAVIS sequence (`root::sequence` or the
 * `JPEGImages/480p/<seq>` folder), an open FrameSource, or any async iterable of RGB frames.
 */
export async function openVideo(
  source: string | FrameSource | AsyncIterable<RgbFrame>,
  options: OpenVideoOptions = {},
): Promise<PropagationSession> {
  const frames = isFrameSource(source) ? source : await openSource(source, { signal: options.signal });
  const engine = typeof options.engine === 'object' ? options.engine : createEngine(options.engine ?? 'copy', options.engineOptions ?? {});
  return new PropagationSession(frames, { ...options, task: options.task ?? 'mask', engine });
}

function isFrameSource(x: unknown): x is FrameSource {
  return typeof x === 'object' && x !== null && 'info' in x && typeof (x as FrameSource).frame === 'function';
}
