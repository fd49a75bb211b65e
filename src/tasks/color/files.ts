/** Colour on disk: a colour image as key-frame, PNG frames and a colour mp4 out; PSNR / L1 scoring. */
import { join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { formatTable } from '../../util/table.js';
import { decodeImageRgb } from '../../video/folder.js';
import { Mp4Sink, RgbFolderSink } from '../../video/sinks.js';
import type { FrameSink } from '../../video/types.js';
import { evaluateColor } from '../evaluate.js';
import { sinkWriter, type TaskFiles } from '../files.js';

export const colorFiles: TaskFiles = {
  annotationFiles: 'colour images (jpg, png) of the key-frames',
  readAnnotation: async (file) => ({ color: await decodeImageRgb(file) }),
  openWriter(out, opts) {
    if (opts.probabilities) throw new InputError('--probabilities', 'only for the mask and labels tasks, not color');
    const frames = new RgbFolderSink(join(out, 'frames'));
    const video = opts.video ? new Mp4Sink(join(out, 'color.mp4'), { width: opts.width, height: opts.height, fps: opts.fps }) : undefined;
    let videoIndex = 0;
    return sinkWriter({
      outputs: [frames.dir, ...(video ? [video.path] : [])],
      sinks: [frames, video].filter((s) => s !== undefined) as Array<FrameSink<never>>,
      async write(r) {
        if (!r.rgb) throw new Error(`internal: result ${r.index} has no colour frame`);
        await frames.write(r.index, r.rgb);
        if (video) await video.write(videoIndex++, r.rgb);
      },
    });
  },
  async evaluate(pred, gt, opts) {
    const r = await evaluateColor(pred, gt, { maxFrames: opts.maxFrames, onProgress: opts.onProgress });
    const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanPsnr, s.meanL1]);
    rows.push(['Average', '', r.meanPsnr, r.meanL1]);
    return { result: r, table: formatTable(['Sequence', 'Frames', 'PSNR (dB)', 'L1'], rows, 2) };
  },
};
