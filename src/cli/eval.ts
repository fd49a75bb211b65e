import { formatDavisTable } from '../metrics/davis.js';
import { computeFlow } from '../ops/flow.js';
import { evaluateColor, evaluateHdr, evaluateLabels, evaluateMasks, listSequences } from '../tasks/evaluate.js';
import { decodeImageRgb } from '../video/folder.js';
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
  const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  switch (o.task) {
    case 'mask': {
      const r = await evaluateMasks(o.pred, o.gt, { protocol: o.protocol });
      if (o.json) out(JSON.stringify(r, null, 2));
      else out(formatDavisTable(r.summary, r.entries));
      return 0;
    }
    case 'color': {
      const r = await evaluateColor(o.pred, o.gt, { maxFrames });
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanPsnr, s.meanL1]);
        rows.push(['Average', '', r.meanPsnr, r.meanL1]);
        out(formatTable(['Sequence', 'Frames', 'PSNR (dB)', 'L1'], rows, 2));
      }
      return 0;
    }
    case 'hdr': {
      const r = await evaluateHdr(o.pred, o.gt, { maxFrames });
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanLogRmse, s.meanLogLuminancePsnr]);
        rows.push(['Average', '', r.meanLogRmse, r.meanLogLuminancePsnr]);
        out(formatTable(['Sequence', 'Frames', 'log-RMSE', 'logL PSNR (dB)'], rows, 3));
      }
      return 0;
    }
    case 'labels': {
      const flow = o.frames ? await framesFlow(o.frames) : undefined;
      const r = await evaluateLabels(o.pred, o.gt, { classes: o.classes ? Number.parseInt(o.classes, 10) : undefined, flow });
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.meanIoU, s.temporalConsistency ?? 'n/a']);
        rows.push(['Average', r.meanIoU, r.temporalConsistency ?? 'n/a']);
        out(formatTable(['Sequence', 'mIoU', 'Temporal consistency'], rows, 3));
      }
      return 0;
    }
  }
}

/** Backward flow (current → previous) between consecutive frames of the given frame folders. */
async function framesFlow(dir: string): Promise<(sequence: string, frame: number) => Promise<Float32Array | undefined>> {
  const seqs = new Map((await listSequences(dir, new Set(['.png', '.jpg', '.jpeg']), 'JPEGImages')).map((s) => [s.name, [...s.files.values()]]));
  return async (sequence, frame) => {
    const files = seqs.get(sequence);
    if (!files || frame < 1 || frame >= files.length) return undefined;
    const [prev, cur] = await Promise.all([decodeImageRgb(files[frame - 1]), decodeImageRgb(files[frame])]);
    return (await computeFlow(prev, cur)).flow;
  };
}
