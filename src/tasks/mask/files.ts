/** Masks on disk: palette PNG key-frames and results, overlay mp4, soft maps as .npy; DAVIS scoring. */
import { join } from 'node:path';
import { readLabelPng } from '../../formats/png.js';
import { formatDavisTable } from '../../metrics/davis.js';
import { Mp4Sink, NpyFolderSink, overlayMask, PaletteFolderSink } from '../../video/sinks.js';
import type { FrameSink } from '../../video/types.js';
import { evaluateMasks } from '../evaluate.js';
import { sinkWriter, type TaskFiles } from '../files.js';

export const maskFiles: TaskFiles = {
  annotationFiles: 'palette PNGs (pixel value = object id) or DAVIS-2016 grey 0/255 masks',
  // DAVIS-2016 grey 0/255 masks become object 1; palette masks keep their ids.
  readAnnotation: async (file) => ({ mask: await readLabelPng(file, { grayscale: 'binary' }) }),
  openWriter: (out, opts) => labelWriter(out, 'masks', 'overlay.mp4', opts),
  async evaluate(pred, gt, opts) {
    const result = await evaluateMasks(pred, gt, { protocol: opts.protocol, onProgress: opts.onProgress });
    return { result, table: formatDavisTable(result.summary, result.entries) };
  },
};

/** Palette PNGs in `out/<folder>`, an overlay video, and optionally .npy soft maps (masks and labels). */
export function labelWriter(
  out: string,
  folder: string,
  videoName: string,
  opts: { width: number; height: number; fps: number; video: boolean; probabilities: boolean },
) {
  const pngs = new PaletteFolderSink(join(out, folder));
  const video = opts.video ? new Mp4Sink(join(out, videoName), { width: opts.width, height: opts.height, fps: opts.fps }) : undefined;
  const npy = opts.probabilities ? new NpyFolderSink(join(out, 'probabilities')) : undefined;
  let videoIndex = 0;
  const sinks = [pngs, video, npy].filter((s) => s !== undefined) as Array<FrameSink<never>>;
  return sinkWriter({
    outputs: [pngs.dir, ...(video ? [video.path] : []), ...(npy ? [npy.dir] : [])],
    sinks,
    async write(r, frame) {
      if (!r.labels) throw new Error(`internal: result ${r.index} has no labels`);
      await pngs.write(r.index, r.labels);
      if (video) await video.write(videoIndex++, overlayMask(await frame(), r.labels));
      if (npy) await npy.write(r.index, r.property);
    },
  });
}
