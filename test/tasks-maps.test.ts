import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PropertyMap } from '../src/core/types.js';
import { labelsAndPresence, objectPresence, probabilitiesToLabels } from '../src/tasks/maps.js';
import { Rng } from '../src/util/rng.js';

/** A random map with ties, exact zeros and a channel that never wins. */
function randomMap(width: number, height: number, channels: number, seed: number): PropertyMap {
  const rng = new Rng(seed);
  const n = width * height;
  const data = new Float32Array(channels * n);
  for (let i = 0; i < data.length; i++) {
    const r = rng.next();
    // Quantised values make ties between channels common; the last channel stays below the others.
    data[i] = Math.floor(r * 4) / 4;
  }
  if (channels > 2) for (let i = 0; i < n; i++) data[(channels - 1) * n + i] = -1;
  return { width, height, channels, data };
}

test('labelsAndPresence equals probabilitiesToLabels + objectPresence (ties to the lower channel)', () => {
  for (const [w, h, C, seed] of [
    [7, 5, 2, 1],
    [33, 17, 4, 2],
    [1, 1, 3, 3],
    [64, 48, 6, 4],
  ] as const) {
    const p = randomMap(w, h, C, seed);
    const ids = Array.from({ length: C - 1 }, (_, k) => 10 + 3 * k);
    const idOf = Uint8Array.from([0, ...ids]);
    const argmax = probabilitiesToLabels(p);
    const expected = probabilitiesToLabels(p, idOf);
    const got = labelsAndPresence(p, ids, idOf);
    assert.deepEqual(got.labels, expected, `${w}x${h}x${C}`);
    assert.deepEqual(got.objects, objectPresence(p, ids, argmax.data), `${w}x${h}x${C}`);
    // The channel that never wins is reported absent, with its (negative) values not raising the peak.
    if (C > 2) assert.deepEqual(got.objects[C - 2], { id: ids[C - 2], present: false, pixels: 0, score: 0 });
  }
});

test('labelsAndPresence: an object without a channel is absent', () => {
  const p = randomMap(5, 4, 2, 9);
  const got = labelsAndPresence(p, [1, 2], Uint8Array.from([0, 1]));
  assert.deepEqual(got.objects[1], { id: 2, present: false, pixels: 0, score: 0 });
});
