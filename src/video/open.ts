/**
 * One entry point for every frame source:
 * - `root::sequence`, a DAVIS root (with `JPEGImages/`) plus `opts.sequence`, or a path ending in
 *   `JPEGImages/<resolution>/<sequence>` -> DAVIS;
 * - any other directory -> image folder;
 * - a file with a video extension -> ffmpeg;
 * - an `AsyncIterable<RgbFrame>` -> iterable wrapper.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { RgbFrame } from '../core/types.js';
import { type DavisOptions, listDavisSequences, openDavis } from './davis.js';
import { type FfmpegBinaries, openVideoFile } from './ffmpeg.js';
import { openImageFolder } from './folder.js';
import { fromAsyncIterable } from './iterable.js';
import type { FrameSource } from './types.js';

export const VIDEO_EXTENSIONS: readonly string[] = ['.mp4', '.m4v', '.webm', '.mov', '.avi', '.mkv'];

export interface OpenSourceOptions extends DavisOptions, FfmpegBinaries {
  /** DAVIS sequence when `spec` is a DAVIS root. */
  sequence?: string;
  /** Frames kept for random access / look-back (default 8). */
  cacheSize?: number;
  /** Description for an iterable source's `info.origin`. */
  origin?: string;
}

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

const isDirectory = async (p: string) => (await statOrNull(p))?.isDirectory() ?? false;

/** Open any supported source. DAVIS sources come back with their `annotations` attached. */
export async function openSource(spec: string | AsyncIterable<RgbFrame>, opts: OpenSourceOptions = {}): Promise<FrameSource> {
  if (typeof spec !== 'string') {
    if (spec === null || typeof (spec as AsyncIterable<RgbFrame>)[Symbol.asyncIterator] !== 'function') {
      throw new InputError(String(spec), 'not a path or an AsyncIterable of frames');
    }
    return fromAsyncIterable(spec, { origin: opts.origin, fps: opts.fps, lookBack: opts.cacheSize, signal: opts.signal });
  }

  const sep = spec.lastIndexOf('::');
  if (sep > 0) {
    const root = spec.slice(0, sep);
    const sequence = spec.slice(sep + 2);
    if (!(await isDirectory(join(root, 'JPEGImages'))))
      throw new InputError(root, `"${spec}" uses root::sequence syntax but ${root} has no JPEGImages/ folder`);
    return (await openDavis(root, sequence, opts)).frames;
  }

  const st = await statOrNull(spec);
  if (st === null) throw new InputError(spec, 'does not exist');

  if (st.isDirectory()) {
    if (await isDirectory(join(spec, 'JPEGImages'))) {
      const resolution = opts.resolution ?? '480p';
      if (opts.sequence === undefined) {
        const seqs = await listDavisSequences(spec, resolution);
        throw new InputError(
          spec,
          `is a DAVIS root: name a sequence with "${spec}::<sequence>" or the sequence option (available: ${seqs.slice(0, 20).join(', ') || 'none'})`,
        );
      }
      return (await openDavis(spec, opts.sequence, opts)).frames;
    }
    // <root>/JPEGImages/<resolution>/<sequence>: open as DAVIS so annotations come along.
    const resDir = dirname(spec);
    if (basename(dirname(resDir)) === 'JPEGImages') {
      const root = dirname(dirname(resDir));
      return (await openDavis(root, basename(spec), { ...opts, resolution: basename(resDir) })).frames;
    }
    return openImageFolder(spec, opts);
  }

  if (st.isFile()) {
    const ext = extname(spec).toLowerCase();
    if (VIDEO_EXTENSIONS.includes(ext)) return openVideoFile(spec, opts);
    throw new InputError(
      spec,
      `unsupported file type "${ext || '(none)'}": expected a video (${VIDEO_EXTENSIONS.join(', ')}), an image folder, or a DAVIS root`,
    );
  }
  throw new InputError(spec, 'is neither a file nor a directory');
}
