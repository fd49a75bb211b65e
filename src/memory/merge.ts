/**
 * n-way confidence-weighted merge of property maps: the two-direction merge of the session and
 * the top-K ensembles of memory selection are both this one rule.
 */
import type { PropertyMap } from '../core/types.js';

export interface WeightedMap {
  readonly map: PropertyMap;
  /** Global weight (temporal-distance weight, selection score). */
  readonly weight: number;
  /**
   * Channels this map knows about (masks with partial key-frames: a pass started from a key-frame
   * that annotated some objects only says nothing about the others). Default: all. Channel 0
   * (background) is then the remainder of the known objects.
   */
  readonly known?: Uint8Array;
}

/**
 * Per pixel, the weights are each map's global weight times its confidence where it has one,
 * normalised; where every confidence vanishes the global weights stand. The result's confidence
 * is the weighted mean of the inputs' confidences (1 where a map gives none), absent when no input
 * has one. Maps with fewer channels are zero-padded (objects that appear later).
 *
 * With `known` sets (probability maps only): each object channel is averaged over the maps that
 * know it (with their weights renormalised among those maps); channel 0 is one minus the objects'
 * sum, and the pixel is renormalised if the objects sum beyond 1.
 */
export function mergeWeighted(items: readonly WeightedMap[]): PropertyMap {
  if (items.length === 0) throw new RangeError('mergeWeighted: nothing to merge');
  if (items.length === 1 && !items[0].known) return items[0].map;
  const { width, height } = items[0].map;
  const n = width * height;
  for (const it of items) {
    if (it.map.width !== width || it.map.height !== height)
      throw new RangeError(`mergeWeighted: maps differ in size (${it.map.width}x${it.map.height} vs ${width}x${height})`);
  }
  const channels = Math.max(...items.map((it) => it.map.channels));
  const data = new Float32Array(channels * n);
  const anyConfidence = items.some((it) => it.map.confidence);
  const confidence = anyConfidence ? new Float32Array(n) : undefined;
  const partial = items.some((it) => it.known);
  const wsum = items.reduce((s, it) => s + it.weight, 0);
  const w = new Float64Array(items.length);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < items.length; j++) {
      const c = items[j].map.confidence;
      w[j] = items[j].weight * (c ? c[i] : 1);
      s += w[j];
    }
    if (s > 1e-12) for (let j = 0; j < items.length; j++) w[j] /= s;
    else for (let j = 0; j < items.length; j++) w[j] = wsum > 0 ? items[j].weight / wsum : 1 / items.length;
    if (!partial) {
      // Sums in double precision, rounded once (what the two-direction merge always did).
      for (let k = 0; k < channels; k++) {
        let v = 0;
        for (let j = 0; j < items.length; j++) {
          const m = items[j].map;
          if (k < m.channels) v += w[j] * m.data[k * n + i];
        }
        data[k * n + i] = v;
      }
    } else {
      let objects = 0;
      for (let k = 1; k < channels; k++) {
        let num = 0;
        let den = 0;
        for (let j = 0; j < items.length; j++) {
          const it = items[j];
          if (k >= it.map.channels || (it.known && !it.known[k])) continue;
          num += w[j] * it.map.data[k * n + i];
          den += w[j];
        }
        const v = den > 0 ? num / den : 0;
        data[k * n + i] = v;
        objects += v;
      }
      if (objects > 1) for (let k = 1; k < channels; k++) data[k * n + i] /= objects;
      data[i] = Math.max(0, 1 - objects);
    }
    if (confidence) {
      let cv = 0;
      for (let j = 0; j < items.length; j++) {
        const c = items[j].map.confidence;
        cv += w[j] * (c ? c[i] : 1);
      }
      confidence[i] = cv;
    }
  }
  return { width, height, channels, data, confidence };
}

/**
 * The two-direction merge: weights are the temporal ones (wf, wb) times each side's confidence
 * where the engine gives one; where both confidences vanish the temporal weights stand.
 */
export function mergeDirections(f: PropertyMap, b: PropertyMap, wf: number, wb: number): PropertyMap {
  return mergeWeighted([
    { map: f, weight: wf },
    { map: b, weight: wb },
  ]);
}
