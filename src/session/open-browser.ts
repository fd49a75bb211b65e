/**
 * Opening a session without Node: frames from a FrameSource, an array or an async iterable;
 * engines by name among the pure ones (copy, bilateral) or any Engine object; results in memory
 * unless `stores` says otherwise.
 */
import type { RgbFrame, Task } from '../core/types.js';
import { bestEngineFor, createEngine } from '../engines/registry.js';
import type { Engine } from '../engines/types.js';
import { fromAsyncIterable } from '../video/iterable.js';
import { sourceFromFrames } from '../video/memory.js';
import type { FrameSource } from '../video/types.js';
import { PropagationSession, type SessionOptions } from './session.js';

export interface OpenSessionOptions extends Omit<SessionOptions, 'engine' | 'task'> {
  readonly task?: Task;
  readonly engine?: Engine | string;
  readonly engineOptions?: Readonly<Record<string, unknown>>;
  /** Frames per second of an array or iterable source. */
  readonly fps?: number;
}

export async function openSession(
  source: FrameSource | readonly RgbFrame[] | AsyncIterable<RgbFrame>,
  options: OpenSessionOptions = {},
): Promise<PropagationSession> {
  const task = options.task ?? 'mask';
  const engine =
    typeof options.engine === 'object' ? options.engine : createEngine(options.engine ?? bestEngineFor(task), options.engineOptions ?? {});
  const frames: FrameSource = Array.isArray(source)
    ? sourceFromFrames(source as readonly RgbFrame[], { fps: options.fps })
    : 'info' in (source as object)
      ? (source as FrameSource)
      : await fromAsyncIterable(source as AsyncIterable<RgbFrame>, { fps: options.fps, signal: options.signal });
  return new PropagationSession(frames, { ...options, task, engine });
}
