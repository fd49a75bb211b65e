/**
 * Opening a session in Node: any source a path can name (video file, image folder, DAVIS sequence),
 * engines by name (all of them, ONNX ones included), results spilled to disk so memory stays
 * bounded on long videos, and resumable when a cache directory is given.
 */
import type { RgbFrame, Task } from '../core/types.js';
import { bestEngineFor, createEngine } from '../engines/index.js';
import type { Engine } from '../engines/types.js';
import { type OpenSourceOptions, openSource } from '../video/open.js';
import type { FrameSource } from '../video/types.js';
import { type DiskStoreOptions, diskStores } from './disk-store.js';
import { createNodeFramePool, defaultWorkerCount } from './node-pool.js';
import { PropagationSession, type SessionOptions } from './session.js';

export interface OpenVideoOptions extends Omit<SessionOptions, 'engine' | 'task'>, DiskStoreOptions {
  /** What is propagated (default 'mask'). */
  readonly task?: Task;
  /** An engine object or a registered engine name (default: the best engine for the task). */
  readonly engine?: Engine | string;
  /** Options of a named engine, validated against its schema. */
  readonly engineOptions?: Readonly<Record<string, unknown>>;
  /** Options of the source (DAVIS resolution, ffmpeg binaries, frames kept for random access). */
  readonly sourceOptions?: OpenSourceOptions;
  /**
   * Worker threads that prepare the next frames' engine analysis while the current one propagates
   * (default: one per core beyond the first, at most 3; 0 = everything on the calling thread).
   * Ignored when `pool` is given.
   */
  readonly workers?: number;
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
  const task = options.task ?? 'mask';
  const engine =
    typeof options.engine === 'object' ? options.engine : createEngine(options.engine ?? bestEngineFor(task), options.engineOptions ?? {});
  const frames = isFrameSource(source) ? source : await openSource(source, { signal: options.signal, ...options.sourceOptions });
  const stores = options.stores ?? diskStores(options);
  const ownPool = options.pool ? undefined : createNodeFramePool(options.workers ?? defaultWorkerCount());
  try {
    return new PropagationSession(frames, {
      ...options,
      task,
      engine,
      stores,
      pool: options.pool ?? ownPool,
      closePool: ownPool ? true : options.closePool,
    });
  } catch (err) {
    await ownPool?.close();
    await stores.dispose();
    if (!isFrameSource(source)) await frames.close();
    throw err;
  }
}

export function isFrameSource(x: unknown): x is FrameSource {
  return typeof x === 'object' && x !== null && 'info' in x && typeof (x as FrameSource).frame === 'function';
}
