import type { PropertyMap, Task } from '../engines/types.js';
import type { LabelImage } from '../video/types.js';

/**
 * One-hot probability map from a label image: channel k is 1 where the label is k.
 * Used for masks (K+1 channels, background first) and semantic labels (C channels).
 * Labels >= `channels` are an error: the caller decides the channel count from all key-frames.
 */
export function labelsToProbabilities(labels: LabelImage, channels: number): PropertyMap {
  const n = labels.width * labels.height;
  const data = new Float32Array(channels * n);
  for (let i = 0; i < n; i++) {
    const k = labels.data[i];
    if (k >= channels) throw new RangeError(`label ${k} at pixel ${i} exceeds the ${channels} channels`);
    data[k * n + i] = 1;
  }
  return { width: labels.width, height: labels.height, channels, data };
}

/** Argmax over channels (ties go to the lower channel), giving a label image. */
export function probabilitiesToLabels(p: PropertyMap): LabelImage {
  const n = p.width * p.height;
  const out = new Uint8Array(n);
  const best = p.data.slice(0, n);
  for (let c = 1; c < p.channels; c++) {
    const off = c * n;
    for (let i = 0; i < n; i++) {
      const v = p.data[off + i];
      if (v > best[i]) {
        best[i] = v;
        out[i] = c;
      }
    }
  }
  return { width: p.width, height: p.height, data: out };
}

/** Largest label value in a label image. */
export function maxLabel(labels: LabelImage): number {
  let m = 0;
  for (let i = 0; i < labels.data.length; i++) if (labels.data[i] > m) m = labels.data[i];
  return m;
}

/**
 * Widen a map to `channels` channels (new channels are zero). Masks gain channels when an
 * object first appears on a later key-frame; earlier maps then have probability 0 for it.
 */
export function padChannels(p: PropertyMap, channels: number): PropertyMap {
  if (p.channels === channels) return p;
  if (p.channels > channels) throw new RangeError(`cannot narrow a ${p.channels}-channel map to ${channels}`);
  const data = new Float32Array(channels * p.width * p.height);
  data.set(p.data);
  return { width: p.width, height: p.height, channels, data, confidence: p.confidence };
}

/** Whether probabilities are the property layout (mask, labels) rather than a value map (colour, hdr). */
export function isProbabilityTask(task: Task): boolean {
  return task === 'mask' || task === 'labels';
}

/**
 * Per-object presence score: the fraction of the frame's pixels whose argmax is each channel,
 * scaled so that "any pixel present" is distinguishable from absent. Returns, for each channel,
 * the maximum probability over the frame (0 when the object is certainly absent).
 */
export function channelPresence(p: PropertyMap): Float32Array {
  const n = p.width * p.height;
  const out = new Float32Array(p.channels);
  for (let c = 0; c < p.channels; c++) {
    let m = 0;
    const off = c * n;
    for (let i = 0; i < n; i++) if (p.data[off + i] > m) m = p.data[off + i];
    out[c] = m;
  }
  return out;
}
