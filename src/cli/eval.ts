import { formatDavisTable } from '../metrics/davis.js';
import { computeFlow } from '../ops/flow.js';
import {
  type ColorEvaluation,
  evaluateColor,
  evaluateHdr,
  evaluateLabels,
  evaluateMasks,
  type HdrEvaluation,
  type LabelsEvaluation,
  listSequences,
  type MaskEvaluation,
} from '../tasks/evaluate.js';
import { decodeImageRgb } from '../video/folder.js';
import { createProgressBar } from './progress.js';
import { formatTable } from './table.js';

interface EvalOptions {
  task: 'mask' | 'color' | 'hdr' | 'labels';
  pred: string;
  gt: string;
  protocol: 'auto' | '2016' | '2017';
  maxFrames?: string;
  classes?: string;
  frames?: string;
  json?: boolean;
}

/** `vprop eval`: DAVIS-style tables on the terminal, or the full results as JSON. */
export async function runEval(o: EvalOptions): Promise<number> {
  const maxFrames = o.maxFrames ? Number.parseInt(o.maxFrames, 10) : undefined;
  const bar = createProgressBar('eval', !o.json);
  const onProgress = (done: number, total: number) => bar.update(done, total);
  let result: MaskEvaluation | ColorEvaluation | HdrEvaluation | LabelsEvaluation;
  try {
    switch (o.task) {
      case 'mask':
        result = await evaluateMasks(o.pred, o.gt, { protocol: o.protocol, onProgress });
        break;
      case 'color':
        result = await evaluateColor(o.pred, o.gt, { maxFrames, onProgress });
        break;
      case 'hdr':
        result = await evaluateHdr(o.pred, o.gt, { maxFrames, onProgress });
        break;
      case 'labels': {
        const flow = o.frames ? await framesFlow(o.frames) : undefined;
        result = await evaluateLabels(o.pred, o.gt, { classes: o.classes ? Number.parseInt(o.classes, 10) : undefined, flow, onProgress });
        break;
      }
    }
  } finally {
    bar.stop();
  }
  process.stdout.write(`${o.json ? JSON.stringify(result, null, 2) : formatResult(result)}\n`);
  return 0;
}

function formatResult(r: MaskEvaluation | ColorEvaluation | HdrEvaluation | LabelsEvaluation): string {
  switch (r.task) {
    case 'mask':
      return formatDavisTable(r.summary, r.entries);
    case 'color': {
      const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanPsnr, s.meanL1]);
      rows.push(['Average', '', r.meanPsnr, r.meanL1]);
      return formatTable(['Sequence', 'Frames', 'PSNR (dB)', 'L1'], rows, 2);
    }
    case 'hdr': {
      const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanLogRmse, s.meanLogLuminancePsnr]);
      rows.push(['Average', '', r.meanLogRmse, r.meanLogLuminancePsnr]);
      return formatTable(['Sequence', 'Frames', 'log-RMSE', 'logL PSNR (dB)'], rows, 3);
    }
    case 'labels': {
      const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.meanIoU, s.temporalConsistency ?? 'n/a']);
      rows.push(['Average', r.meanIoU, r.temporalConsistency ?? 'n/a']);
      return formatTable(['Sequence', 'mIoU', 'Temporal consistency'], rows, 3);
    }
  }
}

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
