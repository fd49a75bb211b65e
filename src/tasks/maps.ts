/** Helpers on probability maps (masks and labels): one-hot, argmax, widening, presence. */
import type { LabelImage, ObjectPresence, PropertyMap } from '../core/types.js';

/**
 * One-hot probability map from a label image: channel `channelOf[label]` is 1 (identity when
 * omitted: channel k = label k). Used for masks (K+1 channels, background first) and semantic
 * labels (C channels). A label without a channel is an error.
 */
export function labelsToProbabilities(labels: LabelImage, channels: number, channelOf?: Int16Array): PropertyMap {
  const n = labels.width * labels.height;
  const data = new Float32Array(channels * n);
  for (let i = 0; i < n; i++) {
    const k = channelOf ? channelOf[labels.data[i]] : labels.data[i];
    if (k < 0 || k >= channels) throw new RangeError(`label ${labels.data[i]} at pixel ${i} has no channel among the ${channels}`);
    data[k * n + i] = 1;
  }
  return { width: labels.width, height: labels.height, channels, data };
}

/** Argmax over channels (ties go to the lower channel): channel index per pixel, or `idOf[channel]`. */
export function probabilitiesToLabels(p: PropertyMap, idOf?: ArrayLike<number>): LabelImage {
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
  if (idOf) for (let i = 0; i < n; i++) out[i] = idOf[out[i]];
  return { width: p.width, height: p.height, data: out };
}

/**
 * The mask task's result in one pass over the map: each pixel's argmax channel (ties go to the
 * lower channel) as `idOf[channel]`, and per object `ids[k]` (channel k + 1) its presence, argmax
 * pixel count and peak probability. The same as `probabilitiesToLabels(p, idOf)` with
 * `objectPresence(p, ids, argmax)`, without the intermediate argmax image and its passes.
 */
export function labelsAndPresence(
  p: PropertyMap,
  ids: readonly number[],
  idOf: ArrayLike<number>,
): { labels: LabelImage; objects: ObjectPresence[] } {
  const n = p.width * p.height;
  const C = p.channels;
  const d = p.data;
  const out = new Uint8Array(n);
  const pixels = new Int32Array(C);
  const peak = new Float32Array(C);
  const lut = Uint8Array.from({ length: C }, (_, c) => idOf[c]);
  for (let i = 0; i < n; i++) {
    let best = d[i];
    let bc = 0;
    for (let c = 1; c < C; c++) {
      const v = d[c * n + i];
      if (v > peak[c]) peak[c] = v;
      if (v > best) {
        best = v;
        bc = c;
      }
    }
    out[i] = lut[bc];
    pixels[bc]++;
  }
  const objects = ids.map((id, k) => {
    const c = k + 1;
    return { id, present: (pixels[c] ?? 0) > 0, pixels: pixels[c] ?? 0, score: c < C ? peak[c] : 0 };
  });
  return { labels: { width: p.width, height: p.height, data: out }, objects };
}

/** Largest label value in a label image. */
export function maxLabel(labels: LabelImage): number {
  let m = 0;
  for (let i = 0; i < labels.data.length; i++) if (labels.data[i] > m) m = labels.data[i];
  return m;
}

/** The distinct non-zero values of a label image, ascending. */
export function labelIds(labels: LabelImage): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < labels.data.length; i++) seen[labels.data[i]] = 1;
  const out: number[] = [];
  for (let v = 1; v < 256; v++) if (seen[v]) out.push(v);
  return out;
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

/**
 * Per-object presence from a mask probability map: for channel k + 1 (object `ids[k]`) the pixels
 * whose argmax it is and its highest probability.
 */
export function objectPresence(p: PropertyMap, ids: readonly number[], argmax: Uint8Array): ObjectPresence[] {
  const n = p.width * p.height;
  const pixels = new Int32Array(p.channels);
  for (let i = 0; i < n; i++) pixels[argmax[i]]++;
  return ids.map((id, k) => {
    const c = k + 1;
    let score = 0;
    if (c < p.channels) {
      const off = c * n;
      for (let i = 0; i < n; i++) if (p.data[off + i] > score) score = p.data[off + i];
    }
    return { id, present: pixels[c] > 0, pixels: pixels[c] ?? 0, score };
  });
}
