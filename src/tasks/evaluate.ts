/**
 * Directory-level evaluation: match predicted and ground-truth frame files by name, read them,
 * and score them with the metrics of each task. This is what `vprop eval` prints.
 *
 * Directory conventions (both for --pred and --gt):
 * - a DAVIS root (has `Annotations/<res>/` or `JPEGImages/<res>/`): sequences are its sub-folders;
 * - a folder whose sub-folders hold frame files: one sequence per sub-folder;
 * - a folder holding frame files itself: one sequence, named after the folder.
 * Frames are matched by file stem (`00012.png` ↔ `00012.jpg`), in natural order.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import { exrToInterleavedRgb, readExr } from '../formats/exr.js';
import { readLabelPng } from '../formats/png.js';
import { readRgbe } from '../formats/rgbe.js';
import { sequenceColorScore } from '../metrics/color.js';
import {
  aggregate2016,
  aggregate2017,
  type DavisSummary,
  evaluateSequence2016,
  evaluateSequence2017,
  type ObjectResult,
  objectCount2017,
} from '../metrics/davis.js';
import { logLuminancePsnr, logRadianceRmse } from '../metrics/hdr.js';
import { confusion, meanIoU, perClassIoU, temporalConsistency } from '../metrics/labels.js';
import { naturalSort } from '../util/natural-sort.js';
import { decodeImageRgb } from '../video/folder.js';

export type EvalTask = 'mask' | 'color' | 'hdr' | 'labels';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);
const HDR_EXT = new Set(['.exr', '.hdr']);

interface SequenceFiles {
  name: string;
  /** stem → path */
  files: Map<string, string>;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function framesIn(dir: string, exts: Set<string>): Promise<Map<string, string>> {
  const names = naturalSort((await readdir(dir)).filter((n) => !n.startsWith('.') && exts.has(extname(n).toLowerCase())));
  const out = new Map<string, string>();
  for (const n of names) {
    const stem = basename(n, extname(n));
    if (out.has(stem)) throw new InputError(join(dir, n), `two frame files share the name ${stem}`);
    out.set(stem, join(dir, n));
  }
  return out;
}

/**
 * Sequences under `dir` (see the module comment). `kind` picks the DAVIS sub-tree to use for a
 * DAVIS root: masks live in Annotations/, colour frames in JPEGImages/.
 */
export async function listSequences(
  dir: string,
  exts: Set<string>,
  davisTree: 'Annotations' | 'JPEGImages',
  resolution = '480p',
): Promise<SequenceFiles[]> {
  if (!(await isDir(dir))) throw new InputError(dir, 'not a directory');
  const davis = join(dir, davisTree, resolution);
  const base = (await isDir(davis)) ? davis : dir;
  const own = await framesIn(base, exts);
  if (own.size > 0 && base === dir) return [{ name: basename(dir), files: own }];
  const subs = naturalSort(
    (await readdir(base, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name),
  );
  const out: SequenceFiles[] = [];
  for (const s of subs) {
    const files = await framesIn(join(base, s), exts);
    if (files.size > 0) out.push({ name: s, files });
  }
  if (out.length === 0) throw new InputError(dir, `no frame files (${[...exts].join(', ')}) found in it or its sub-folders`);
  return out;
}

/** Pair predicted and GT sequences by name; a single predicted sequence may be matched by name inside a GT set. */
function pairSequences(
  pred: SequenceFiles[],
  gt: SequenceFiles[],
  predDir: string,
): Array<{ name: string; pred: SequenceFiles; gt: SequenceFiles }> {
  const gtByName = new Map(gt.map((s) => [s.name, s]));
  const pairs = [];
  for (const p of pred) {
    const g = gtByName.get(p.name) ?? (pred.length === 1 && gt.length === 1 ? gt[0] : undefined);
    if (!g)
      throw new InputError(
        join(predDir, p.name),
        `no ground-truth sequence named "${p.name}" (ground truth has: ${gt.map((s) => s.name).join(', ')})`,
      );
    pairs.push({ name: p.name, pred: p, gt: g });
  }
  return pairs;
}

function predictionFor(seq: { name: string; pred: SequenceFiles }, stem: string, predDir: string): string {
  const p = seq.pred.files.get(stem);
  if (!p) throw new InputError(join(predDir, seq.name), `missing prediction for frame ${stem}`);
  return p;
}

// ------------------------------------------------------------------------------------------------
// Masks (DAVIS)
// ------------------------------------------------------------------------------------------------

export interface MaskEvaluation {
  task: 'mask';
  summary: DavisSummary;
  /** One entry per sequence (2016) or per object of each sequence (2017). */
  entries: ObjectResult[];
}

/**
 * DAVIS evaluation of predicted masks against ground truth. `protocol` 'auto' picks 2017 (per
 * object) when any ground-truth first frame has more than one object id, else 2016 (per sequence,
 * any non-zero pixel is foreground).
 */
export async function evaluateMasks(
  predDir: string,
  gtDir: string,
  opts: { protocol?: '2016' | '2017' | 'auto'; resolution?: string; onProgress?: ProgressCallback } = {},
): Promise<MaskEvaluation> {
  const png = new Set(['.png']);
  const pairs = pairSequences(
    await listSequences(predDir, png, 'Annotations', opts.resolution),
    await listSequences(gtDir, png, 'Annotations', opts.resolution),
    predDir,
  );
  let protocol = opts.protocol ?? 'auto';
  if (protocol === 'auto') {
    protocol = '2016';
    for (const s of pairs) {
      const first = s.gt.files.values().next().value as string;
      const g = await readLabelPng(first, { grayscale: 'values' });
      // DAVIS-2016 masks are 0/255 grey: 255 is "the object", not object 255.
      const ids = new Set(g.data);
      ids.delete(0);
      ids.delete(255);
      if (ids.size > 1 || (ids.size === 1 && !ids.has(1))) protocol = '2017';
    }
  }
  const entries: ObjectResult[] = [];
  const progress = counter(pairs, opts.onProgress);
  for (const s of pairs) {
    const stems = [...s.gt.files.keys()];
    const gts: Uint8Array[] = [];
    const preds: Array<Uint8Array | undefined> = [];
    let w = 0;
    let h = 0;
    for (let i = 0; i < stems.length; i++) {
      const gtPath = s.gt.files.get(stems[i]) as string;
      const g = await readLabelPng(gtPath, { grayscale: protocol === '2016' ? 'binary' : 'values' });
      if (i === 0) {
        w = g.width;
        h = g.height;
      } else if (g.width !== w || g.height !== h) {
        throw new InputError(gtPath, `mask is ${g.width}x${g.height} but frame 0 of the sequence is ${w}x${h}`);
      }
      gts.push(protocol === '2017' ? voidToZero(g.data) : g.data);
      progress();
      // The first and last frames are not evaluated, so their predictions may be absent.
      if (i === 0 || i === stems.length - 1) {
        preds.push(undefined);
        continue;
      }
      const predPath = predictionFor(s, stems[i], predDir);
      const p = await readLabelPng(predPath, { grayscale: protocol === '2016' ? 'binary' : 'values' });
      if (p.width !== w || p.height !== h)
        throw new InputError(predPath, `prediction is ${p.width}x${p.height} but its ground truth is ${w}x${h}`);
      preds.push(p.data);
    }
    if (protocol === '2016') entries.push(evaluateSequence2016(preds, gts, w, h, { name: s.name }));
    else {
      if (objectCount2017(gts[0]) === 0)
        throw new InputError(s.gt.files.values().next().value as string, 'first ground-truth frame has no object');
      entries.push(...evaluateSequence2017(preds, gts, w, h, { name: s.name }));
    }
  }
  const summary = protocol === '2016' ? aggregate2016(entries) : aggregate2017(entries);
  return { task: 'mask', summary, entries };
}

/** DAVIS-2017 ground truth: 255 is void, never an object (ANCHORS §1.4). */
function voidToZero(d: Uint8Array): Uint8Array {
  if (!d.includes(255)) return d;
  const o = d.slice();
  for (let i = 0; i < o.length; i++) if (o[i] === 255) o[i] = 0;
  return o;
}

// ------------------------------------------------------------------------------------------------
// Colour
// ------------------------------------------------------------------------------------------------

export interface ColorEvaluation {
  task: 'color';
  /** Mean over sequences of the per-sequence mean PSNR (dB). */
  meanPsnr: number;
  meanL1: number;
  sequences: Array<{ name: string; frames: string[]; psnr: number[]; l1: number[]; meanPsnr: number; meanL1: number }>;
}

/**
 * Colour evaluation: per-frame PSNR (RMSE over all pixels and RGB channels, 8-bit) and L1, mean per
 * sequence, mean over sequences. `maxFrames` limits to the first frames of each GT sequence (the
 * VPN protocol: 25, frame 0 included).
 */
export async function evaluateColor(
  predDir: string,
  gtDir: string,
  opts: { maxFrames?: number; resolution?: string; onProgress?: ProgressCallback } = {},
): Promise<ColorEvaluation> {
  const pairs = pairSequences(
    await listSequences(predDir, IMAGE_EXT, 'JPEGImages', opts.resolution),
    await listSequences(gtDir, IMAGE_EXT, 'JPEGImages', opts.resolution),
    predDir,
  );
  const sequences: ColorEvaluation['sequences'] = [];
  const progress = counter(pairs, opts.onProgress, opts.maxFrames);
  for (const s of pairs) {
    const stems = [...s.gt.files.keys()].slice(0, opts.maxFrames ?? Number.POSITIVE_INFINITY);
    const psnrs: number[] = [];
    const l1s: number[] = [];
    for (const stem of stems) {
      const predPath = predictionFor(s, stem, predDir);
      const [p, g] = await Promise.all([decodeImageRgb(predPath), decodeImageRgb(s.gt.files.get(stem) as string)]);
      if (p.width !== g.width || p.height !== g.height)
        throw new InputError(predPath, `prediction is ${p.width}x${p.height} but its ground truth is ${g.width}x${g.height}`);
      const score = sequenceColorScore([p.data], [g.data]);
      psnrs.push(score.psnr[0]);
      progress();
      let sum = 0;
      for (let i = 0; i < p.data.length; i++) sum += Math.abs(p.data[i] - g.data[i]);
      l1s.push(sum / p.data.length);
    }
    sequences.push({ name: s.name, frames: stems, psnr: psnrs, l1: l1s, meanPsnr: mean(psnrs), meanL1: mean(l1s) });
  }
  return { task: 'color', meanPsnr: mean(sequences.map((s) => s.meanPsnr)), meanL1: mean(sequences.map((s) => s.meanL1)), sequences };
}

// ------------------------------------------------------------------------------------------------
// HDR
// ------------------------------------------------------------------------------------------------

export interface HdrEvaluation {
  task: 'hdr';
  meanLogRmse: number;
  meanLogLuminancePsnr: number;
  sequences: Array<{
    name: string;
    frames: string[];
    logRmse: number[];
    logLuminancePsnr: number[];
    meanLogRmse: number;
    meanLogLuminancePsnr: number;
  }>;
}

async function readRadiance(path: string): Promise<{ width: number; height: number; data: Float32Array }> {
  if (extname(path).toLowerCase() === '.hdr') return readRgbe(path);
  const img = await readExr(path);
  return { width: img.width, height: img.height, data: exrToInterleavedRgb(img) };
}

/** HDR evaluation on EXR / Radiance frames: RMSE of log(H + 0.01) and PSNR of log luminance. */
export async function evaluateHdr(
  predDir: string,
  gtDir: string,
  opts: { maxFrames?: number; onProgress?: ProgressCallback } = {},
): Promise<HdrEvaluation> {
  const pairs = pairSequences(
    await listSequences(predDir, HDR_EXT, 'JPEGImages'),
    await listSequences(gtDir, HDR_EXT, 'JPEGImages'),
    predDir,
  );
  const sequences: HdrEvaluation['sequences'] = [];
  const progress = counter(pairs, opts.onProgress, opts.maxFrames);
  for (const s of pairs) {
    const stems = [...s.gt.files.keys()].slice(0, opts.maxFrames ?? Number.POSITIVE_INFINITY);
    const r: number[] = [];
    const p: number[] = [];
    for (const stem of stems) {
      const predPath = predictionFor(s, stem, predDir);
      const [a, b] = await Promise.all([readRadiance(predPath), readRadiance(s.gt.files.get(stem) as string)]);
      if (a.width !== b.width || a.height !== b.height)
        throw new InputError(predPath, `prediction is ${a.width}x${a.height} but its ground truth is ${b.width}x${b.height}`);
      r.push(logRadianceRmse(a.data, b.data));
      p.push(logLuminancePsnr(a.data, b.data));
      progress();
    }
    sequences.push({ name: s.name, frames: stems, logRmse: r, logLuminancePsnr: p, meanLogRmse: mean(r), meanLogLuminancePsnr: mean(p) });
  }
  return {
    task: 'hdr',
    meanLogRmse: mean(sequences.map((s) => s.meanLogRmse)),
    meanLogLuminancePsnr: mean(sequences.map((s) => s.meanLogLuminancePsnr)),
    sequences,
  };
}

// ------------------------------------------------------------------------------------------------
// Semantic labels
// ------------------------------------------------------------------------------------------------

export interface LabelsEvaluation {
  task: 'labels';
  classes: number;
  /** mIoU over all frames of all sequences (one confusion matrix). */
  meanIoU: number;
  perClassIoU: number[];
  /** Mean over sequences of the temporal consistency of the prediction, when motion was given. */
  temporalConsistency: number | undefined;
  sequences: Array<{ name: string; meanIoU: number; temporalConsistency: number | undefined }>;
}

/**
 * Label evaluation: PNG label maps (palette index or grey value = class id; 255 ignored). With
 * `flow(sequence, frameIndex)` giving the backward flow (current → previous, planar dy,dx), also
 * the temporal consistency of the predictions.
 */
export async function evaluateLabels(
  predDir: string,
  gtDir: string,
  opts: {
    classes?: number;
    flow?: (sequence: string, frame: number) => Promise<Float32Array | undefined>;
    onProgress?: ProgressCallback;
  } = {},
): Promise<LabelsEvaluation> {
  const png = new Set(['.png']);
  const pairs = pairSequences(await listSequences(predDir, png, 'Annotations'), await listSequences(gtDir, png, 'Annotations'), predDir);
  let classes = opts.classes ?? 0;
  if (!classes) {
    for (const s of pairs) {
      for (const f of s.gt.files.values()) {
        const g = await readLabelPng(f, { grayscale: 'values' });
        for (const v of g.data) if (v !== 255 && v + 1 > classes) classes = v + 1;
      }
    }
  }
  const total = new Float64Array(classes * classes);
  const sequences: LabelsEvaluation['sequences'] = [];
  const progress = counter(pairs, opts.onProgress);
  for (const s of pairs) {
    const conf = new Float64Array(classes * classes);
    let prev: Uint8Array | undefined;
    let agree = 0;
    let counted = 0;
    let i = 0;
    for (const [stem, gtPath] of s.gt.files) {
      const predPath = predictionFor(s, stem, predDir);
      const [p, g] = await Promise.all([readLabelPng(predPath, { grayscale: 'values' }), readLabelPng(gtPath, { grayscale: 'values' })]);
      if (p.width !== g.width || p.height !== g.height)
        throw new InputError(predPath, `prediction is ${p.width}x${p.height} but its ground truth is ${g.width}x${g.height}`);
      confusion(p.data, g.data, classes, 255, conf);
      if (prev && opts.flow) {
        const flow = await opts.flow(s.name, i);
        if (flow) {
          const tc = temporalConsistency(prev, p.data, flow, p.width, p.height, { ignore: 255 });
          agree += tc.agree;
          counted += tc.counted;
        }
      }
      prev = p.data;
      i++;
      progress();
    }
    for (let k = 0; k < conf.length; k++) total[k] += conf[k];
    sequences.push({ name: s.name, meanIoU: meanIoU(conf, classes), temporalConsistency: counted > 0 ? agree / counted : undefined });
  }
  const tcs = sequences.map((s) => s.temporalConsistency).filter((v): v is number => v !== undefined);
  return {
    task: 'labels',
    classes,
    meanIoU: meanIoU(total, classes),
    perClassIoU: [...perClassIoU(total, classes)],
    temporalConsistency: tcs.length ? mean(tcs) : undefined,
    sequences,
  };
}

/** Called after each frame is scored: (frames done, frames in all). */
export type ProgressCallback = (done: number, total: number) => void;

function counter(pairs: Array<{ gt: SequenceFiles }>, cb: ProgressCallback | undefined, maxFrames?: number): () => void {
  const total = pairs.reduce((s, p) => s + Math.min(p.gt.files.size, maxFrames ?? Number.POSITIVE_INFINITY), 0);
  let done = 0;
  return () => cb?.(++done, total);
}

function mean(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}
