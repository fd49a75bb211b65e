import { join } from 'node:path';
import { bestEngineFor } from '../engines/index.js';
import { aggregate2017, evaluateSequence2017, formatDavisTable, type ObjectResult } from '../metrics/davis.js';
import { openVideo } from '../session/open.js';
import { createScene, sceneFrameSource } from '../synth/index.js';
import { Mp4Sink, overlayMask, PaletteFolderSink } from '../video/sinks.js';
import { createProgressBar } from './progress.js';

interface DemoOptions {
  out: string;
  seed: number;
  frames: number;
  size: { width: number; height: number };
  engine?: string;
  json?: boolean;
  quiet?: boolean;
}

/**
 * `vprop demo`: a synthetic scene with exact ground truth, its first frame's masks as the only
 * key-frame, propagated forward with the best engine. Writes `masks/` (palette PNGs),
 * `ground-truth/` (the exact masks, for `vprop eval`) and `overlay.mp4`, then prints the DAVIS-2017
 * J&F table of the result beside the copy baseline.
 */
export async function runDemo(o: DemoOptions): Promise<number> {
  const scene = createScene({ seed: o.seed, width: o.size.width, height: o.size.height, frames: o.frames, objects: 3 });
  const { width, height, frames } = scene.info;
  const engineName = o.engine ?? bestEngineFor('mask');
  const log = (s: string) => {
    if (!o.json && !o.quiet) process.stdout.write(`${s}\n`);
  };
  log(
    `vprop demo: synthetic scene seed ${scene.info.seed}, ${width}x${height}, ${frames} frames, ${scene.info.objects} objects; engine ${engineName}`,
  );

  const gtSink = new PaletteFolderSink(join(o.out, 'ground-truth'));
  const gts: Uint8Array[] = [];
  for (let t = 0; t < frames; t++) {
    const labels = scene.render(t).labels;
    gts.push(labels.data);
    await gtSink.write(t, labels);
  }
  await gtSink.close();

  const evaluate = async (name: string, write: boolean): Promise<{ entries: ObjectResult[]; seconds: number }> => {
    const bar = createProgressBar(name, !o.json && !o.quiet);
    const session = await openVideo(sceneFrameSource(scene), {
      task: 'mask',
      engine: name,
      onProgress: (p) => bar.update(p.done, p.total, { fps: p.framesPerSecond }),
    });
    const maskSink = write ? new PaletteFolderSink(join(o.out, 'masks')) : undefined;
    const video = write ? new Mp4Sink(join(o.out, 'overlay.mp4'), { width, height, fps: scene.info.fps }) : undefined;
    const preds: Uint8Array[] = new Array(frames);
    const started = performance.now();
    try {
      session.addKeyframe(0, { mask: scene.render(0).labels });
      for await (const r of session.propagate({ direction: 'forward' })) {
        const labels = r.labels!;
        preds[r.index] = labels.data;
        await maskSink?.write(r.index, labels);
        await video?.write(r.index, overlayMask(scene.render(r.index).rgb, labels));
      }
      bar.stop();
      await maskSink?.close();
      await video?.close();
    } catch (err) {
      bar.stop();
      await maskSink?.abort();
      await video?.abort();
      throw err;
    } finally {
      await session.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    return { entries: evaluateSequence2017(preds, gts, width, height, { name: `synthetic-${scene.info.seed}` }), seconds };
  };

  const main = await evaluate(engineName, true);
  const summary = aggregate2017(main.entries);
  const baseline = engineName === 'copy' ? undefined : aggregate2017((await evaluate('copy', false)).entries);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ out: o.out, scene: scene.info, engine: engineName, seconds: main.seconds, summary, entries: main.entries, copyBaseline: baseline }, null, 2)}\n`,
    );
  } else {
    log(formatDavisTable(summary, main.entries));
    if (baseline)
      log(
        `copy baseline (every frame = frame 0): J&F ${baseline.JF.toFixed(3)}, J ${baseline.J.mean.toFixed(3)}, F ${baseline.F.mean.toFixed(3)}`,
      );
    log(`${engineName}: ${(frames - 1) / main.seconds > 0 ? ((frames - 1) / main.seconds).toFixed(1) : '-'} frames/s`);
    log(`wrote ${join(o.out, 'masks')}/ (palette PNGs), ${join(o.out, 'ground-truth')}/, ${join(o.out, 'overlay.mp4')}`);
    log(`re-score with: vprop eval --task mask --pred ${join(o.out, 'masks')} --gt ${join(o.out, 'ground-truth')}`);
  }
  return 0;
}
