/**
 * The Node side of the tasks: reading key-frame files, writing results, scoring folders. Each
 * task's `files.ts` says which formats it reads and writes; this module holds what they share and
 * looks them up by task, so the CLI, the server and scripts call the same functions.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { Annotation, RgbFrame, Task } from '../core/types.js';
import type { FrameSink } from '../video/types.js';
import { colorFiles } from './color/files.js';
import { hdrFiles } from './hdr/files.js';
import { labelsFiles } from './labels/files.js';
import { maskFiles } from './mask/files.js';
import type { WritableResult } from './types.js';

export interface WriterOptions {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Also write the task's video (overlay / colour mp4); needs results in ascending order. */
  readonly video: boolean;
  /** Also write the soft maps as `probabilities/NNNNN.npy` (mask, labels). */
  readonly probabilities: boolean;
}

/** Writes a run's results: one file per frame (atomic), optionally a video and soft maps. */
export interface ResultWriter {
  /** Paths written to (folders and files), for summaries. */
  readonly outputs: readonly string[];
  write(result: WritableResult, frame: () => Promise<RgbFrame>): Promise<void>;
  /** Finish: every output in place under its final name. */
  close(): Promise<void>;
  /** Stop: complete frame files stay (a rerun resumes), partial ones and unfinished videos are removed. */
  abort(): Promise<void>;
}

export interface EvaluateOptions {
  readonly protocol?: 'auto' | '2016' | '2017';
  readonly maxFrames?: number;
  readonly classes?: number;
  /** labels: video frames (same layout) for temporal consistency along estimated motion. */
  readonly frames?: string;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface Evaluation {
  /** Everything measured, for --json. */
  readonly result: { readonly task: Task };
  /** A terminal table. */
  readonly table: string;
}

export interface TaskFiles {
  /** What key-frame files look like, for help texts. */
  readonly annotationFiles: string;
  /** Read one key-frame file as the annotation the task needs (errors name the file). */
  readAnnotation(file: string): Promise<Annotation>;
  openWriter(out: string, opts: WriterOptions): ResultWriter;
  evaluate(pred: string, gt: string, opts: EvaluateOptions): Promise<Evaluation>;
}

const files: Record<Task, TaskFiles> = { mask: maskFiles, labels: labelsFiles, color: colorFiles, hdr: hdrFiles };

export function getTaskFiles(task: Task): TaskFiles {
  const f = files[task];
  if (!f) throw new InputError('task', `unknown task "${task}"`);
  return f;
}

/**
 * Parse a key-frame list: "INDEX:FILE,INDEX:FILE" or a folder whose files are named by frame
 * number (`00012.png` is frame 12). Returns (index, file) pairs, ascending.
 */
export async function parseKeyframeSpec(spec: string): Promise<Array<{ index: number; file: string }>> {
  const st = await stat(spec).catch(() => null);
  if (st?.isDirectory()) {
    const out = [];
    for (const name of await readdir(spec)) {
      const m = /^(?:.*?)(\d+)$/.exec(basename(name, extname(name)));
      if (!m || name.startsWith('.')) continue;
      out.push({ index: Number.parseInt(m[1], 10), file: join(spec, name) });
    }
    if (out.length === 0) throw new InputError(spec, 'no key-frame files named by frame number in this folder');
    return out.sort((a, b) => a.index - b.index);
  }
  return spec.split(',').map((item) => {
    const m = /^(\d+):(.+)$/.exec(item.trim());
    if (!m) throw new InputError(spec, `key-frame "${item}" is not INDEX:FILE`);
    return { index: Number.parseInt(m[1], 10), file: m[2] };
  });
}

/**
 * A writer over sinks: `frames` gets every result; `video` (ascending results only) a rendered
 * frame; `extra` anything else. Closing closes all; aborting aborts all.
 */
export function sinkWriter(parts: {
  outputs: string[];
  sinks: Array<FrameSink<never>>;
  write: (r: WritableResult, frame: () => Promise<RgbFrame>) => Promise<void>;
}): ResultWriter {
  return {
    outputs: parts.outputs,
    write: parts.write,
    async close() {
      for (const s of parts.sinks) await s.close();
    },
    async abort() {
      for (const s of parts.sinks) await s.abort().catch(() => {});
    },
  };
}
