/**
 * `vprop propagate`: key-frames in, one output per frame out (the task's writer: palette PNGs,
 * colour frames, EXRs, plus an overlay / colour mp4). Results are cached under
 * `<out>/.vprop-cache` while running, so an interrupted run (Ctrl-C) resumes; finished frame files
 * are written atomically. With several sources, each writes `<out>/<name>/`.
 */
import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError, isAbortError } from '../core/errors.js';
import type { Task } from '../core/types.js';
import { bestEngineFor, createEngine, getEngineRegistration } from '../engines/index.js';
import { MsnScorer } from '../memory/msn.js';
import { type GuidePolicy, selected } from '../memory/policy.js';
import { BUNDLED_MODELS } from '../models/weights.js';
import { openVideo } from '../session/open.js';
import type { Direction, KeyframeMode } from '../session/session.js';
import { getTaskFiles, parseKeyframeSpec } from '../tasks/files.js';
import { getTask } from '../tasks/index.js';
import { expandGlob, hasGlob } from '../util/glob.js';
import { DavisFrameSource } from '../video/davis.js';
import { openSource } from '../video/open.js';
import { parseKeyValues, parseRemovals } from './args.js';
import { createProgressBar } from './progress.js';

export interface PropagateCliOptions {
  task: Task;
  engine?: string;
  option?: string[];
  keyframes?: string;
  keyframeMode: KeyframeMode;
  removeObject?: string[];
  allowEmpty?: boolean;
  objects?: number[];
  classes?: number;
  direction: Direction;
  refine: string;
  from?: number;
  to?: number;
  maxInternalSize?: number;
  workers?: number;
  memory: 'previous' | 'selected';
  topK: number;
  poolCap: number;
  withPrevious?: boolean;
  selector?: string;
  out: string;
  video: boolean;
  perFrame?: string;
  probabilities?: boolean;
  json?: boolean;
  quiet?: boolean;
}

interface RunSummary {
  source: string;
  task: Task;
  engine: string;
  refine: string;
  keyframes: number[];
  objectIds: readonly number[];
  framesWritten: number;
  framesComputed: number;
  seconds: number;
  framesPerSecond: number;
  out: string;
  outputs: readonly string[];
  error?: string;
}

/** Name of a source's output folder when several are propagated. */
export function sourceName(spec: string): string {
  const sep = spec.lastIndexOf('::');
  if (sep > 0) return spec.slice(sep + 2);
  const trimmed = spec.replace(/[\\/]+$/, '');
  const isFile = existsSync(trimmed) && statSync(trimmed).isFile();
  return isFile ? basename(trimmed, extname(trimmed)) : basename(trimmed);
}

export async function runPropagate(specs: string[], o: PropagateCliOptions): Promise<number> {
  const task = getTask(o.task).name;
  const sources: string[] = [];
  for (const spec of specs) {
    if (!hasGlob(spec) || spec.includes('::')) sources.push(spec);
    else {
      const found = expandGlob(spec);
      if (found.length === 0) throw new InputError(spec, 'matches no file or folder');
      sources.push(...found);
    }
  }
  const names = sources.map(sourceName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (sources.length > 1 && dup) throw new InputError(dup, 'two sources would write the same output folder; propagate them separately');

  // Everything the command line says is checked before any source is opened.
  const engineName = o.engine ?? bestEngineFor(task);
  const reg = getEngineRegistration(engineName);
  if (!reg.tasks.includes(task))
    throw new InputError('--engine', `engine ${engineName} does not do the ${task} task (it does ${reg.tasks.join(', ')})`);
  const engineOptions: Record<string, unknown> = parseKeyValues('--option', o.option);
  if (o.perFrame) {
    if (!('perFrameDir' in reg.options))
      throw new InputError('--per-frame', `engine ${engineName} takes no per-frame estimates (flowgru and vpn do)`);
    engineOptions.perFrameDir = o.perFrame;
  }
  createEngine(engineName, engineOptions); // validates the options (names and types) up front
  const taskDef = getTask(task);
  if (o.refine !== 'none' && !taskDef.refinements[o.refine])
    throw new InputError(
      '--refine',
      `the ${task} task has no refinement "${o.refine}" (${['none', ...Object.keys(taskDef.refinements)].join(', ')})`,
    );
  if (o.probabilities && taskDef.kind !== 'probabilities')
    throw new InputError('--probabilities', `only for the mask and labels tasks, not ${task}`);
  const removals = parseRemovals(o.removeObject);
  if (removals.length > 0 && task !== 'mask') throw new InputError('--remove-object', `only masks have objects (task ${task})`);
  if (o.objects && task !== 'mask') throw new InputError('--objects', `only masks have objects (task ${task}; labels take --classes)`);
  if (o.classes && task !== 'labels') throw new InputError('--classes', `only for the labels task (task ${task})`);
  if (o.from !== undefined && o.to !== undefined && o.from > o.to) throw new InputError('--from', `${o.from} is after --to ${o.to}`);
  if (o.memory !== 'selected' && (o.topK !== 1 || o.selector || o.withPrevious))
    throw new InputError(o.selector ? '--selector' : o.withPrevious ? '--with-previous' : '--top-k', 'only with --memory selected');
  if (o.poolCap < o.topK) throw new InputError('--pool-cap', `${o.poolCap} is below --top-k ${o.topK}`);
  const guides = o.memory === 'selected' ? await selectedGuides(task, o) : undefined;

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
    if (!o.quiet) process.stderr.write('\nvprop: stopping after the current frame (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const summaries: RunSummary[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < sources.length; i++) {
      const out = sources.length > 1 ? join(o.out, names[i]) : o.out;
      try {
        summaries.push(await runOne(sources[i], out, engineName, engineOptions, removals, o, controller.signal, guides));
      } catch (err) {
        if (isAbortError(err) || sources.length === 1) throw err;
        failed++;
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`vprop: ${message}\n`);
        summaries.push({ source: sources[i], out, error: message } as RunSummary);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (o.json) process.stdout.write(`${JSON.stringify(sources.length === 1 ? summaries[0] : summaries, null, 2)}\n`);
  return failed > 0 ? 1 : 0;
}

/** Memory selection: the task's MSN selector (bundled, or the pair at --selector PREFIX). */
async function selectedGuides(task: Task, o: PropagateCliOptions): Promise<GuidePolicy> {
  if (o.selector) {
    for (const part of ['embed', 'head'])
      if (!existsSync(`${o.selector}-${part}.onnx`)) throw new InputError('--selector', `${o.selector}-${part}.onnx does not exist`);
  } else if (!BUNDLED_MODELS.some((m) => m.name === `msn-${task}-embed`)) {
    const have = BUNDLED_MODELS.filter((m) => /^msn-.*-embed$/.test(m.name)).map((m) => m.name.slice(4, -6));
    throw new InputError(
      '--memory',
      `no bundled memory-selection model for the ${task} task (bundled: ${have.join(', ') || 'none'}); pass --selector PREFIX (training/README.md, "MSN")`,
    );
  }
  const scorer = await MsnScorer.load(task, o.selector ? { prefix: o.selector } : {});
  return selected(o.topK, scorer, { poolCap: o.poolCap, withPrevious: o.withPrevious === true });
}

async function runOne(
  spec: string,
  out: string,
  engineName: string,
  engineOptions: Record<string, unknown>,
  removals: Array<{ id: number; from: number }>,
  o: PropagateCliOptions,
  signal: AbortSignal,
  guides: GuidePolicy | undefined,
): Promise<RunSummary> {
  const started = performance.now();
  const files = getTaskFiles(o.task);
  const warn = (m: string) => process.stderr.write(`vprop: warning: ${m}\n`);
  const source = await openSource(spec, { signal, onWarning: warn });
  const engine = createEngine(engineName, engineOptions);
  const bar = createProgressBar(sources1(spec), !o.json && !o.quiet);
  let computed = 0;
  const cacheDir = join(out, '.vprop-cache');
  const session = await openVideo(source, {
    task: o.task,
    engine,
    maxInternalSize: o.maxInternalSize,
    workers: o.workers,
    guides,
    cacheDir,
    signal,
    refine: o.refine,
    allowEmpty: o.allowEmpty,
    objects: o.objects,
    classes: o.classes,
    onWarning: warn,
    onProgress: (p) => {
      computed = p.done;
      bar.update(p.done, p.total, { fps: p.framesPerSecond });
    },
  });
  let written = 0;
  let writer: ReturnType<typeof files.openWriter> | undefined;
  try {
    const keyframes = await keyframesFor(spec, source, o.keyframes);
    if (keyframes.length === 0 && engine.needsKeyframes)
      throw new InputError(spec, 'no key-frames: pass --keyframes INDEX:FILE,... or a folder (only DAVIS sequences have a default)');
    if (keyframes.length === 0 && o.task === 'mask' && !o.objects)
      throw new InputError(spec, 'no key-frames: say which objects the per-frame input holds with --objects 1,2,...');
    if (keyframes.length === 0 && o.task === 'labels' && !o.classes)
      throw new InputError(spec, 'no key-frames: say how many classes the per-frame input holds with --classes N');
    for (const k of keyframes) {
      const annotation = await files.readAnnotation(k.file);
      session.addKeyframe(k.index, annotation, { source: k.file, mode: o.task === 'mask' ? o.keyframeMode : undefined });
    }
    for (const r of removals) session.removeObject(r.id, r.from);
    const { width, height } = source.info;
    writer = files.openWriter(out, {
      width,
      height,
      fps: source.info.fps ?? 24,
      // A video needs frames in ascending order: not written for backward-only runs.
      video: o.video && o.direction !== 'backward',
      probabilities: !!o.probabilities,
    });
    for await (const r of session.propagate({ direction: o.direction, from: o.from, to: o.to })) {
      await writer.write(r, () => source.frame(r.index));
      written++;
    }
    bar.stop();
    await writer.close();
    await rm(cacheDir, { recursive: true, force: true });
    const seconds = (performance.now() - started) / 1000;
    const summary: RunSummary = {
      source: source.info.origin,
      task: o.task,
      engine: engine.name,
      refine: o.refine,
      keyframes: keyframes.map((k) => k.index),
      objectIds: session.objectIds,
      framesWritten: written,
      framesComputed: computed,
      seconds,
      framesPerSecond: written / seconds,
      out,
      outputs: writer.outputs,
    };
    if (!o.json && !o.quiet)
      process.stdout.write(`wrote ${written} frames to ${out} in ${seconds.toFixed(1)} s (${summary.framesPerSecond.toFixed(1)} fps)\n`);
    return summary;
  } catch (err) {
    bar.stop();
    if (isAbortError(err)) {
      // Complete frame files and the result cache stay: the same command resumes.
      await writer?.abort();
      process.stderr.write(`vprop: interrupted after ${written} frames written to ${out}; run the same command again to resume\n`);
    } else {
      // Keep every frame written before the failure (a damaged video still yields its good part).
      await writer?.close().catch(() => writer?.abort());
      await rm(cacheDir, { recursive: true, force: true });
      if (written > 0) process.stderr.write(`vprop: ${written} frames were written to ${out} before the error\n`);
    }
    throw err;
  } finally {
    await session.dispose();
  }
}

function sources1(spec: string): string {
  return `propagate ${sourceName(spec)}`;
}

/** Key-frames of a source: the given list or folder (per-source sub-folder when present), else DAVIS's first annotation. */
async function keyframesFor(spec: string, source: Awaited<ReturnType<typeof openSource>>, given: string | undefined) {
  if (given) {
    const sub = join(given, sourceName(spec));
    return parseKeyframeSpec(existsSync(sub) && statSync(sub).isDirectory() ? sub : given);
  }
  if (source instanceof DavisFrameSource && source.annotations.indices.length > 0) {
    const first = source.annotations.indices[0];
    return [{ index: first, file: source.annotations.file(first) }];
  }
  return [];
}
