import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { confusion, meanIoU, perClassIoU, pixelAccuracy, temporalConsistency } from '../src/metrics/labels.js';

describe('confusion and IoU', () => {
  test('worked example: class 0 IoU 1/2, class 1 IoU 2/3, class 2 absent → excluded from the mean', () => {
    const gt = new Uint8Array([0, 0, 1, 1, 255]);
    const pred = new Uint8Array([0, 1, 1, 1, 2]); // the ignored pixel's prediction is not counted
    const conf = confusion(pred, gt, 3);
    assert.deepEqual(Array.from(conf), [1, 1, 0, 0, 2, 0, 0, 0, 0]);
    const iou = perClassIoU(conf, 3);
    assert.equal(iou[0], 0.5);
    assert.equal(iou[1], 2 / 3);
    assert.ok(Number.isNaN(iou[2]));
    assert.ok(Math.abs(meanIoU(conf, 3) - (0.5 + 2 / 3) / 2) < 1e-15);
    assert.equal(pixelAccuracy(conf, 3), 3 / 4);
  });

  test('a class predicted but absent from GT counts with IoU 0', () => {
    const conf = confusion(new Uint8Array([2, 0]), new Uint8Array([0, 0]), 3);
    const iou = perClassIoU(conf, 3);
    assert.equal(iou[0], 0.5);
    assert.ok(Number.isNaN(iou[1]));
    assert.equal(iou[2], 0);
    assert.equal(meanIoU(conf, 3), 0.25);
  });

  test('accumulates across frames into one matrix (dataset-level IoU)', () => {
    const conf = new Float64Array(4);
    confusion(new Uint8Array([0, 1]), new Uint8Array([0, 1]), 2, 255, conf);
    confusion(new Uint8Array([1, 1]), new Uint8Array([0, 1]), 2, 255, conf);
    assert.deepEqual(Array.from(conf), [1, 1, 0, 2]);
    assert.equal(meanIoU(conf, 2), (1 / 2 + 2 / 3) / 2);
  });

  test('labels outside the classes are errors; empty matrix gives NaN', () => {
    assert.throws(() => confusion(new Uint8Array([5]), new Uint8Array([0]), 3), RangeError);
    assert.throws(() => confusion(new Uint8Array([0]), new Uint8Array([7]), 3), RangeError);
    assert.doesNotThrow(() => confusion(new Uint8Array([9]), new Uint8Array([255]), 3));
    assert.ok(Number.isNaN(meanIoU(new Float64Array(9), 3)));
  });
});

describe('temporalConsistency', () => {
  const w = 20;
  const h = 8;
  const stripes = (shift: number) => {
    const m = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = Math.floor((x - shift + 100) / 4) % 3;
    return m;
  };
  const flowConst = (dy: number, dx: number) => {
    const f = new Float32Array(2 * w * h);
    f.fill(dy, 0, w * h);
    f.fill(dx, w * h);
    return f;
  };

  test('identity flow and identical labels → 1 over all pixels', () => {
    const r = temporalConsistency(stripes(0), stripes(0), flowConst(0, 0), w, h);
    assert.deepEqual(r, { fraction: 1, agree: w * h, counted: w * h });
  });

  test('labels moved right by 3 with the matching flow (dx = −3) → 1 on the interior; zero flow → < 1', () => {
    const prev = stripes(0);
    const cur = stripes(3); // cur(y, x) = prev(y, x − 3)
    const r = temporalConsistency(prev, cur, flowConst(0, -3), w, h);
    assert.equal(r.fraction, 1);
    assert.equal(r.counted, (w - 3) * h); // columns 0..2 sample outside the image
    const z = temporalConsistency(prev, cur, flowConst(0, 0), w, h);
    assert.ok(z.fraction < 1);
    assert.equal(z.counted, w * h);
    // sub-pixel flow rounds to nearest: −2.6 → −3, and −3.4 → −3
    assert.equal(temporalConsistency(prev, cur, flowConst(0.3, -2.6), w, h).fraction, 1);
    assert.equal(temporalConsistency(prev, cur, flowConst(-0.4, -3.4), w, h).fraction, 1);
  });

  test('channel 0 is dy: labels moved down by 2 need dy = −2', () => {
    const prev = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) prev.fill(y, y * w, y * w + w);
    const cur = new Uint8Array(w * h);
    for (let y = 2; y < h; y++) cur.fill(y - 2, y * w, y * w + w);
    assert.equal(temporalConsistency(prev, cur, flowConst(-2, 0), w, h).fraction, 1);
    // a horizontal flow compares cur(y, x) = y − 2 with prev(y, x − 2) = y: only row 0 (cur 0 = prev 0) agrees
    assert.equal(temporalConsistency(prev, cur, flowConst(0, -2), w, h).fraction, 1 / h);
  });

  test('validity mask and ignore label exclude pixels', () => {
    const prev = stripes(0);
    const cur = stripes(0);
    cur[5] = 255;
    const valid = new Uint8Array(w * h).fill(1);
    valid.fill(0, 0, w); // first row invalid
    const r = temporalConsistency(prev, cur, flowConst(0, 0), w, h, { valid, ignore: 255 });
    assert.equal(r.counted, w * h - w);
    assert.equal(r.fraction, 1);
    const noIgnore = temporalConsistency(prev, cur, flowConst(0, 0), w, h);
    assert.equal(noIgnore.agree, w * h - 1);
    assert.throws(() => temporalConsistency(prev, cur, new Float32Array(3), w, h), RangeError);
  });
});
