import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createEngine } from '../engines/index.js';
import type { Task } from '../engines/types.js';
import { InputError } from '../errors.js';
import { openVideo } from '../session/index.js';
import type { PropagationResult } from '../session/session.js';
import { probabilitiesToLabels } from '../tasks/maps.js';
import { refineWithCrf } from '../tasks/refine.js';
import { DavisFrameSource } from '../video/davis.js';
import { openSource } from '../video/open.js';
import { ExrSequenceSink, Mp4Sink, NpyFolderSink, overlayMask, PaletteFolderSink, RgbFolderSink } from '../video/sinks.js';
import type { FrameSink, RgbFrame } from '../video/types.js';
import { parseKeyframeSpec, readAnnotation } from './keyframes.js';
import { createProgressBar } from './progress.js';

interface PropagateCliOptions {
  task: Task;
  engine: string;
  refine: 'none' | 'crf';
  keyframes?: string;
  direction: 'forward' | 'backward' | 'both';
  from?: string;
  to?: string;
  maxInternalSize?: string;
  out: string;
  video: boolean;
  option?: string[];
  perFrame?: string;
  probabilities?: boolean;
  json?: boolean;
}

/** Parse repeated `--option key=value` into an engine options object (numbers and booleans typed). */
export function parseEngineOptions(list: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InputError('--option', `"${item}" is not key=value`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    out[key] = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/**
 * `vprop propagate`: key-frames in, one output per frame out (palette PNGs, colour frames, EXRs),
 * plus an overlay / colour mp4. Results are cached under `<out>/.vprop-cache` while running, so an
 * interrupted run resumes; finished frame files are written atomically.
 */
export async function runPropagate(sourceSpec: string, o: PropagateCliOptions): Promise<number> {
  const started = performance.now();
  if (o.probabilities && o.task !== 'mask' && o.task !== 'labels')
    throw new InputError('--probabilities', `only for the mask and labels tasks, not ${o.task}`);
  const source = await openSource(sourceSpec);
  const engineOptions = parseEngineOptions(o.option);
  if (o.perFrame) engineOptions.perFrameDir = o.perFrame;
  const engine = createEngine(o.engine, engineOptions);
  const bar = createProgressBar('propagate', !o.json);
  let computed = 0;
  const session = await openVideo(source, {
    onProgress: (p) => {
      computed = p.done;
      bar.update(p.done, p.total, { fps: p.framesPerSecond });
    },
    task: o.task,
    engine,
    engineSignature: JSON.stringify(engineOptions),
    maxInternalSize: o.maxInternalSize ? Number.parseInt(o.maxInternalSize, 10) : undefined,
    cacheDir: join(o.out, '.vprop-cache'),
  });
  const sinks: Array<FrameSink<never>> = [];
  try {
    // Key-frames: given explicitly, or the DAVIS sequence's first annotation.
    const keyframes = o.keyframes
      ? await parseKeyframeSpec(o.keyframes)
      : source instanceof DavisFrameSource && source.annotations.indices.length > 0
        ? [{ index: source.annotations.indices[0], file: source.annotations.file(source.annotations.indices[0]) }]
        : undefined;
    if (!keyframes)
      throw new InputError(sourceSpec, 'no key-frames: pass --keyframes INDEX:FILE,... (only DAVIS sequences have a default)');
    for (const k of keyframes) session.addKeyframe(k.index, await readAnnotation(o.task, k.file));

    const { width, height } = source.info;
    const fps = source.info.fps ?? 24;
    const frameSink =
      o.task === 'mask' || o.task === 'labels'
        ? new PaletteFolderSink(join(o.out, o.task === 'mask' ? 'masks' : 'labels'))
        : o.task === 'color'
          ? new RgbFolderSink(join(o.out, 'frames'))
          : new ExrSequenceSink(join(o.out, 'exr'));
    // A video needs frames in ascending order: not written for backward-only runs.
    const video =
      o.video && o.direction !== 'backward' && o.task !== 'hdr'
        ? new Mp4Sink(join(o.out, o.task === 'color' ? 'color.mp4' : 'overlay.mp4'), { width, height, fps })
        : undefined;
    // Soft maps (mask / class probabilities) as .npy, e.g. as another engine's per-frame input.
    const probabilitySink = o.probabilities ? new NpyFolderSink(join(o.out, 'probabilities')) : undefined;
    sinks.push(frameSink as FrameSink<never>);
    if (video) sinks.push(video as FrameSink<never>);
    if (probabilitySink) sinks.push(probabilitySink as FrameSink<never>);

    let written = 0;
    let videoIndex = 0;
    const it = session.propagate({
      direction: o.direction,
      from: o.from !== undefined ? Number.parseInt(o.from, 10) : undefined,
      to: o.to !== undefined ? Number.parseInt(o.to, 10) : undefined,
    });
    for await (const r of it) {
      let result: PropagationResult = r;
      if (o.refine === 'crf' && (o.task === 'mask' || o.task === 'labels') && !r.isKeyframe) {
        const frame = await source.frame(r.index);
        const property = refineWithCrf(r.property, frame);
        result = { ...r, property, labels: probabilitiesToLabels(property) };
      }
      await writeResult(result, frameSink, video ? { sink: video, index: videoIndex++, frame: () => source.frame(r.index) } : undefined);
      if (probabilitySink) await probabilitySink.write(r.index, result.property);
      written++;
    }
    bar.stop();
    for (const s of sinks) await s.close();
    await rm(join(o.out, '.vprop-cache'), { recursive: true, force: true });
    const seconds = (performance.now() - started) / 1000;
    const summary = {
      source: source.info.origin,
      task: o.task,
      engine: engine.name,
      refine: o.refine,
      keyframes: keyframes.map((k) => k.index),
      framesWritten: written,
      framesComputed: computed,
      seconds,
      framesPerSecond: written / seconds,
      out: o.out,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else
      process.stdout.write(`wrote ${written} frames to ${o.out} in ${seconds.toFixed(1)} s (${summary.framesPerSecond.toFixed(1)} fps)\n`);
    return 0;
  } catch (err) {
    bar.stop();
    for (const s of sinks) await s.abort().catch(() => {});
    throw err;
  } finally {
    await session.dispose();
  }
}

async function writeResult(
  r: PropagationResult,
  frameSink: FrameSink<never>,
  video: { sink: Mp4Sink; index: number; frame: () => Promise<RgbFrame> } | undefined,
): Promise<void> {
  if (r.labels) {
    await (frameSink as unknown as PaletteFolderSink).write(r.index, r.labels);
    if (video) await video.sink.write(video.index, overlayMask(await video.frame(), r.labels));
  } else if (r.rgb) {
    await (frameSink as unknown as RgbFolderSink).write(r.index, r.rgb);
    if (video) await video.sink.write(video.index, r.rgb);
  } else if (r.radiance) {
    const { width, height, data } = r.radiance;
    const n = width * height;
    const planar = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[i * 3 + c];
    await (frameSink as unknown as ExrSequenceSink).write(r.index, { width, height, data: planar });
  }
}
