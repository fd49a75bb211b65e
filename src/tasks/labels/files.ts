/** Semantic labels on disk: label PNGs in and out, overlay mp4, soft maps as .npy; mIoU and temporal consistency. */
import { readLabelPng } from '../../formats/png.js';
import { computeFlow } from '../../ops/flow.js';
import { formatTable } from '../../util/table.js';
import { decodeImageRgb } from '../../video/folder.js';
import { evaluateLabels, listSequences } from '../evaluate.js';
import type { TaskFiles } from '../files.js';
import { labelWriter } from '../mask/files.js';

export const labelsFiles: TaskFiles = {
  annotationFiles: 'label PNGs (palette index or grey value = class id)',
  readAnnotation: async (file) => ({ labels: await readLabelPng(file, { grayscale: 'values' }) }),
  openWriter: (out, opts) => labelWriter(out, 'labels', 'overlay.mp4', opts),
  async evaluate(pred, gt, opts) {
    const flow = opts.frames ? await framesFlow(opts.frames) : undefined;
    const r = await evaluateLabels(pred, gt, { classes: opts.classes, flow, onProgress: opts.onProgress });
    const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.meanIoU, s.temporalConsistency ?? 'n/a']);
    rows.push(['Average', r.meanIoU, r.temporalConsistency ?? 'n/a']);
    return { result: r, table: formatTable(['Sequence', 'mIoU', 'Temporal consistency'], rows, 3) };
  },
};

/** Backward flow (current → previous) between consecutive frames of the given frame folders. */
async function framesFlow(dir: string): Promise<(sequence: string, frame: number) => Promise<Float32Array | undefined>> {
  const seqs = new Map(
    (await listSequences(dir, new Set(['.png', '.jpg', '.jpeg']), 'JPEGImages')).map((s) => [s.name, [...s.files.values()]]),
  );
  return async (sequence, frame) => {
    const files = seqs.get(sequence);
    if (!files || frame < 1 || frame >= files.length) return undefined;
    const [prev, cur] = await Promise.all([decodeImageRgb(files[frame - 1]), decodeImageRgb(files[frame])]);
    return (await computeFlow(prev, cur)).flow;
  };
}
