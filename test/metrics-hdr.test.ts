import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logLuminance, logLuminancePsnr, logRadianceRmse } from '../src/metrics/hdr.js';

const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} ${a} vs ${b}`);

describe('logRadianceRmse', () => {
  test('identical → 0; a uniform factor on (H + 0.01) gives exactly its log', () => {
    const gt = Float64Array.from({ length: 30 }, (_, i) => 0.001 * 3 ** (i % 10));
    assert.equal(logRadianceRmse(gt, gt), 0);
    const k = 0.3;
    const pred = gt.map((v) => (v + 0.01) * Math.exp(k) - 0.01);
    close(logRadianceRmse(pred, gt), k, 1e-12);
  });

  test('half the values off by k → k / sqrt(2); negative radiance is clamped to 0', () => {
    const gt = new Float64Array([1, 1, 1, 2, 2, 2]);
    const pred = new Float64Array([1, 1, 1, 2, 2, 2]);
    for (let i = 0; i < 3; i++) pred[i] = (gt[i] + 0.01) * Math.exp(0.5) - 0.01;
    close(logRadianceRmse(pred, gt), 0.5 / Math.sqrt(2), 1e-12);
    const neg = new Float32Array([-1, 0, 0]);
    assert.equal(logRadianceRmse(neg, new Float32Array(3)), 0);
    assert.throws(() => logRadianceRmse(new Float32Array(3), new Float32Array(6)), RangeError);
    assert.throws(() => logRadianceRmse(new Float32Array(4), new Float32Array(4)), RangeError);
  });
});

describe('logLuminancePsnr', () => {
  test('luminance weights 0.2126 / 0.7152 / 0.0722 and the 1e-4 offset', () => {
    const l = logLuminance(new Float64Array([0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]));
    close(l[0], Math.log10(0.7152 + 1e-4), 1e-15);
    close(l[1], Math.log10(0.2126 + 1e-4), 1e-15);
    close(l[2], Math.log10(0.0722 + 1e-4), 1e-15);
    close(l[3], -4, 1e-15);
  });

  test('grey GT spanning 3 decades, prediction off by 0.1 decade → 10·log10(3² / 0.01) = 29.5424 dB', () => {
    const decades = [-1, 0, 1, 2];
    const grey = (k: number) => {
      const v = 10 ** k - 1e-4;
      return [v, v, v];
    };
    const gt = Float64Array.from(decades.flatMap(grey));
    const pred = Float64Array.from(decades.flatMap((k) => grey(k + 0.1)));
    close(logLuminancePsnr(pred, gt), 10 * Math.log10(900), 1e-9);
    close(logLuminancePsnr(pred, gt), 29.54242509, 1e-7);
    // scale-free in the radiance unit of the GT's range: the peak is max − min of log luminance
    const pred2 = Float64Array.from(decades.flatMap((k) => grey(k - 0.2)));
    close(logLuminancePsnr(pred2, gt), 10 * Math.log10(9 / 0.04), 1e-9);
  });

  test('identical → +Infinity; constant GT with an error → NaN', () => {
    const gt = new Float32Array([1, 2, 3, 4, 5, 6]);
    assert.equal(logLuminancePsnr(gt, gt), Number.POSITIVE_INFINITY);
    const flat = new Float32Array([1, 1, 1, 1, 1, 1]);
    assert.ok(Number.isNaN(logLuminancePsnr(gt, flat)));
  });
});
