/**
 * A propagation job: its spec (written once when the job is created), its status (written by
 * whoever runs it) and the run itself, which only calls the public API: `openVideo` with the
 * job's `cache/` as the session's cache directory (so a run that dies resumes where it stopped,
 * on this worker or another), the task's key-frame reader and result writer.
 *
 * A run is idempotent: running a job again (after a crash, a retry, a stalled lock) recomputes
 * only frames missing from its cache and rewrites every output file atomically with the same
 * bytes, so a job that finished elsewhere after its first worker died has the output of an
 * uninterrupted run.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, sep } from 'node:path';
import { AbortError, InputError, isAbortError } from '../core/errors.js';
import type { Task } from '../core/types.js';
import { openVideo } from '../session/open.js';
import type { Direction, KeyframeMode } from '../session/session.js';
import { getTaskFiles } from '../tasks/files.js';
import { writeFileAtomic } from '../util/atomic.js';
import { openSource } from '../video/open.js';
import type { FrameSource } from '../video/types.js';
import { jobPaths } from './workspace.js';

export type JobState = 'queued' | 'running' | 'retrying' | 'done' | 'failed' | 'cancelled';
export const TERMINAL_STATES: readonly JobState[] = ['done', 'failed', 'cancelled'];

export interface JobKeyframe {
  readonly index: number;
  readonly mode: KeyframeMode;
  /** File name inside the workspace's keyframes/ folder (made by the service). */
  readonly file: string;
}

export interface JobSpec {
  readonly id: string;
  readonly videoId: string;
  readonly task: Task;
  readonly engine: string;
  readonly engineOptions: Readonly<Record<string, unknown>>;
  readonly direction: Direction;
  readonly from?: number;
  readonly to?: number;
  readonly maxInternalSize?: number;
  readonly refine?: string;
  readonly keyframes: readonly JobKeyframe[];
  /** The source inside the workspace: `input.<ext>` or the `frames` folder. */
  readonly input: string;
  readonly frameCount: number;
  /** Write the overlay / colour mp4. */
  readonly video: boolean;
  /** The job whose cache this one started from (corrections recompute only what they affect). */
  readonly basedOn?: string;
  readonly createdAt: string;
}

export interface JobStatus {
  readonly state: JobState;
  /** Frames written to out/ so far in the current attempt. */
  readonly written: number;
  /** Frames the current attempt computed (the rest came from the cache). */
  readonly computed: number;
  readonly total: number;
  readonly attempt: number;
  readonly worker?: string;
  readonly error?: string;
  /** Frames this job computed (rather than reused from the cache of the job it is based on), when done. */
  readonly computedFrames?: readonly number[];
  /** Masks: the object ids of the job's key-frames, when done. */
  readonly objectIds?: readonly number[];
  readonly updatedAt: string;
}

/** What a running job tells its listeners (the server forwards these as Server-Sent Events). */
export type JobEvent =
  | { readonly type: 'state'; readonly state: JobState; readonly error?: string; readonly attempt?: number }
  | { readonly type: 'progress'; readonly done: number; readonly total: number; readonly fps: number; readonly frame: number }
  | { readonly type: 'frame'; readonly index: number; readonly written: number; readonly computed: boolean };

export async function readSpec(dir: string): Promise<JobSpec> {
  return JSON.parse(await readFile(jobPaths(dir).spec, 'utf8')) as JobSpec;
}

export async function readStatus(dir: string): Promise<JobStatus | undefined> {
  try {
    return JSON.parse(await readFile(jobPaths(dir).status, 'utf8')) as JobStatus;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writeStatus(dir: string, status: Omit<JobStatus, 'updatedAt'>): Promise<JobStatus> {
  const full: JobStatus = { ...status, updatedAt: new Date().toISOString() };
  await writeFileAtomic(jobPaths(dir).status, `${JSON.stringify(full, null, 1)}\n`);
  return full;
}

/** Bad input in a job (not worth retrying): a key-frame that does not fit the video, an unknown option. */
export class JobInputError extends Error {
  override readonly name = 'JobInputError';
}

export interface RunJobOptions {
  /** Stops the run (worker shutting down): the job is left to resume, not marked cancelled. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: JobEvent) => void;
  /** Attempt number (1 = first run) for the status file. */
  readonly attempt?: number;
  /** True when a failure is final (no retry follows): the status says 'failed' instead of 'retrying'. */
  readonly lastAttempt?: boolean;
}

/** How often a running job looks for its cancel marker (a file, so any process can cancel it). */
const CANCEL_POLL_MS = 250;

/**
 * Run (or resume) the job in workspace `dir`. Resolves when every output is in place; rejects
 * with an AbortError when cancelled (status 'cancelled') or stopped through `signal` (status left
 * 'running' for the next attempt), or with the run's error.
 */
export async function runJob(dir: string, opts: RunJobOptions = {}): Promise<JobStatus> {
  const paths = jobPaths(dir);
  const spec = await readSpec(dir);
  const attempt = opts.attempt ?? 1;
  const worker = `${hostname()}:${process.pid}`;
  const emit = (e: JobEvent) => opts.onEvent?.(e);
  const cancelled = () => existsSync(paths.cancel);
  if (cancelled()) {
    await writeStatus(dir, { state: 'cancelled', written: 0, computed: 0, total: spec.frameCount, attempt, worker });
    emit({ type: 'state', state: 'cancelled' });
    throw new AbortError('job cancelled');
  }
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  const poll = setInterval(() => {
    if (cancelled()) controller.abort();
  }, CANCEL_POLL_MS);
  // An attempt killed mid-write leaves temporaries (`.name.xxxx.partial`): remove them first.
  await removePartials(paths.out);
  let written = 0;
  let computed = 0;
  const computedFrames = new Set<number>();
  let lastStatusWrite = 0;
  const status = (state: JobState, extra: Partial<JobStatus> = {}) =>
    writeStatus(dir, { state, written, computed, total: spec.frameCount, attempt, worker, ...extra });
  await status('running');
  emit({ type: 'state', state: 'running', attempt });
  const files = getTaskFiles(spec.task);
  let writer: ReturnType<typeof files.openWriter> | undefined;
  let session: Awaited<ReturnType<typeof openVideo>> | undefined;
  try {
    session = await openVideo(await openJobSource(dir, spec, signal), {
      task: spec.task,
      engine: spec.engine,
      engineOptions: spec.engineOptions,
      cacheDir: paths.cache,
      signal,
      maxInternalSize: spec.maxInternalSize,
      refine: spec.refine,
      onProgress: (p) => {
        computed = p.done;
        computedFrames.add(p.frame);
        emit({ type: 'progress', done: p.done, total: p.total, fps: p.framesPerSecond, frame: p.frame });
      },
    });
    const sess = session;
    for (const k of spec.keyframes) {
      const file = join(paths.keyframes, k.file);
      try {
        sess.addKeyframe(k.index, await files.readAnnotation(file), { mode: k.mode, source: `key-frame ${k.index}` });
      } catch (err) {
        throw err instanceof InputError || err instanceof RangeError ? new JobInputError((err as Error).message) : err;
      }
    }
    const info = sess.source.info;
    writer = files.openWriter(paths.out, {
      width: info.width,
      height: info.height,
      fps: info.fps ?? 24,
      video: spec.video && spec.direction !== 'backward',
      probabilities: false,
    });
    const w = writer;
    for await (const r of sess.propagate({ direction: spec.direction, from: spec.from, to: spec.to, signal })) {
      await w.write(r, () => sess.source.frame(r.index));
      written++;
      emit({ type: 'frame', index: r.index, written, computed: computedFrames.has(r.index) });
      // The status file is for readers that come later; a few writes a second are enough.
      if (Date.now() - lastStatusWrite > 500) {
        lastStatusWrite = Date.now();
        await status('running');
      }
    }
    await w.close();
    const done = await status('done', { computedFrames: [...computedFrames].sort((a, b) => a - b), objectIds: [...sess.objectIds] });
    emit({ type: 'state', state: 'done' });
    return done;
  } catch (err) {
    await writer?.abort();
    if (isAbortError(err) && cancelled()) {
      await status('cancelled');
      emit({ type: 'state', state: 'cancelled' });
      throw new AbortError('job cancelled');
    }
    if (isAbortError(err)) throw err; // stopped, not cancelled: the next attempt resumes
    // Paths inside the workspace are named relative to it: clients see "input.mp4", not the server's folders.
    const message = (err instanceof Error ? err.message : String(err)).split(`${dir}${sep}`).join('');
    const final = opts.lastAttempt !== false || err instanceof JobInputError;
    await status(final ? 'failed' : 'retrying', { error: message });
    emit({ type: 'state', state: final ? 'failed' : 'retrying', error: message });
    throw err;
  } finally {
    clearInterval(poll);
    await session?.dispose();
  }
}

/**
 * The job's input, named after its video id: every job of one video then has the same source
 * name in the session's cache signatures (so a job `basedOn` another reuses its results), and
 * errors about the input name the video, not the server's folders. Uploaded videos never change,
 * so the id names the content.
 */
async function openJobSource(dir: string, spec: JobSpec, signal: AbortSignal): Promise<FrameSource> {
  const frames = await openSource(join(dir, spec.input), { signal });
  return {
    info: { ...frames.info, origin: `video ${spec.videoId}` },
    frame: (index) => frames.frame(index),
    frames: (from, to) => frames.frames(from, to),
    [Symbol.asyncIterator]: () => frames[Symbol.asyncIterator](),
    close: () => frames.close(),
  };
}

async function removePartials(dir: string): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isFile() && e.name.endsWith('.partial')) await rm(join(e.parentPath ?? (e as { path: string }).path, e.name), { force: true });
  }
}
