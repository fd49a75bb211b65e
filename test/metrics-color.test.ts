import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pilRgbToYcbcr, pilYcbcrToRgb } from '../src/formats/color.js';
import { bytescale, l1, psnr, psnrFromRmse, rmse, sequenceColorScore, vpnComposeOutput } from '../src/metrics/color.js';

const pilYcbcrToRgb1 = (ycc: Uint8Array) => pilYcbcrToRgb(ycc, ycc.length / 3);
const pilRgbToYcbcr1 = (rgb: Uint8Array) => pilRgbToYcbcr(rgb, rgb.length / 3);

const close = (a: number, b: number, tol: number, msg?: string) => assert.ok(Math.abs(a - b) <= tol, `${msg ?? ''} ${a} vs ${b}`);

describe('PSNR / RMSE (VPN computeRMSE)', () => {
  test('identical images give 20·log10(255 / 1e-27), not Infinity', () => {
    const a = new Uint8Array([1, 2, 3, 200, 100, 50]);
    const p = psnr(a, a.slice());
    close(p, 20 * Math.log10(255 / 1e-27), 1e-9);
    close(p, 588.1308, 1e-4);
    assert.equal(rmse(a, a), 0);
  });

  test('known RMSE over all pixels and all channels', () => {
    // two RGB pixels, differences 1..6: mean square = 91/6
    const gt = new Uint8Array([10, 10, 10, 10, 10, 10]);
    const pred = new Uint8Array([11, 12, 13, 14, 15, 16]);
    close(rmse(pred, gt), Math.sqrt(91 / 6), 1e-12);
    close(psnr(pred, gt), 20 * Math.log10(255 / Math.sqrt(91 / 6)), 1e-9);
    close(l1(pred, gt), 3.5, 1e-12);
    // constant error 3 → 20·log10(85) = 38.5884 dB
    close(psnr(new Uint8Array(300).fill(13), new Uint8Array(300).fill(10)), 38.58837851, 1e-6);
    close(psnrFromRmse(3), psnr(new Uint8Array([3]), new Uint8Array([0])), 1e-12);
  });

  test('sequence score averages per-frame PSNRs (not the PSNR of the mean MSE)', () => {
    const gt = new Uint8Array(30).fill(100);
    const f1 = new Uint8Array(30).fill(101); // rmse 1
    const f2 = new Uint8Array(30).fill(110); // rmse 10
    const s = sequenceColorScore([f1, f2], [gt, gt]);
    assert.deepEqual(s.rmse, [1, 10]);
    close(s.meanPsnr, (20 * Math.log10(255) + 20 * Math.log10(25.5)) / 2, 1e-9);
    close(s.meanRmse, 5.5, 1e-12);
    assert.ok(Math.abs(s.meanPsnr - psnrFromRmse(Math.sqrt((1 + 100) / 2))) > 1);
    assert.throws(() => sequenceColorScore([f1], [gt, gt]), RangeError);
    assert.throws(() => rmse(f1, new Uint8Array(3)), RangeError);
  });
});

describe('scipy bytescale', () => {
  test('scipy docstring example', () => {
    const img = [91.06794177, 3.39058326, 84.4221549, 73.88003259, 80.91433048, 4.88878881, 51.53875334, 34.45808177, 27.5873488];
    assert.deepEqual(Array.from(bytescale(img)), [255, 0, 236, 205, 225, 4, 140, 90, 70]);
  });

  test('worked by hand: [10, 20, 30.2] → scale 255/20.2 → [0, 126, 255]; constant input → 0', () => {
    // (20 − 10) · 255/20.2 = 126.24 → +0.5 → 126.74 → truncated 126
    assert.deepEqual(Array.from(bytescale([10, 20, 30.2])), [0, 126, 255]);
    assert.deepEqual(Array.from(bytescale([7.5, 7.5, 7.5])), [0, 0, 0]);
  });
});

describe('Pillow YCbCr conversions (fixed point)', () => {
  test('hand-derived pixels from the 6-bit tables', () => {
    // neutral chroma → grey
    assert.deepEqual(Array.from(pilYcbcrToRgb1(new Uint8Array([100, 128, 128]))), [100, 100, 100]);
    // R_Cr[0] = -11484 → >> 6 = -180: R = 200 − 180 = 20 (the rounded float formula gives 21)
    assert.deepEqual(Array.from(pilYcbcrToRgb1(new Uint8Array([200, 128, 0]))), [20, 255, 200]);
    // G = 128 + (G_Cr[255] = -5804) >> 6 = 128 − 91 = 37; R clamps to 255
    assert.deepEqual(Array.from(pilYcbcrToRgb1(new Uint8Array([128, 128, 255]))), [255, 37, 128]);
    assert.deepEqual(Array.from(pilYcbcrToRgb1(new Uint8Array([50, 0, 0]))), [0, 185, 0]);
  });

  test('RGB → YCbCr: white, black, red', () => {
    assert.deepEqual(
      Array.from(pilRgbToYcbcr1(new Uint8Array([255, 255, 255, 0, 0, 0, 255, 0, 0]))),
      [255, 128, 128, 0, 128, 128, 76, 84, 255],
    );
  });

  test('round trip RGB → YCbCr → RGB stays within 3 levels', () => {
    const rgb = new Uint8Array(3 * 4096);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + (i >> 3) * 11) & 255;
    const back = pilYcbcrToRgb1(pilRgbToYcbcr1(rgb));
    let worst = 0;
    for (let i = 0; i < rgb.length; i++) worst = Math.max(worst, Math.abs(back[i] - rgb[i]));
    assert.ok(worst <= 3, `worst ${worst}`);
  });
});

describe('vpnComposeOutput', () => {
  test('contrast stretch by hand: Y 100..150 stretched to 0..255 before conversion', () => {
    // joint min 100, max 150 → scale 5.1; chroma 128 → (28 · 5.1 + 0.5) = 143.3 → 143
    const Y = new Float32Array([100, 150]);
    const c = new Float32Array([128, 128]);
    const out = vpnComposeOutput(Y, c, c, 2, { contrastStretch: true });
    // YCbCr (0,143,143) → (21, 0, 26); (255,143,143) → (255, 239, 255)
    assert.deepEqual(Array.from(out), [21, 0, 26, 255, 239, 255]);
    const clean = vpnComposeOutput(Y, c, c, 2, { contrastStretch: false });
    assert.deepEqual(Array.from(clean), [100, 100, 100, 150, 150, 150]);
  });

  test('matches a NumPy bytescale + Pillow-table reference on 8 random pixels', () => {
    // Generated with NumPy (RandomState(1)) through scipy's bytescale formula and Pillow's own tables.
    const Y = [109.234, 166.862, 30.022, 87.443, 57.884, 47.544, 65.389, 95.657];
    const cb = [115.547, 135.434, 118.687, 155.931, 88.623, 182.936, 63.834, 153.865];
    const cr = [118.423, 138.217, 79.654, 87.734, 172.104, 195.557, 103.879, 156.925];
    const rgb = [133, 114, 129, 255, 171, 255, 0, 34, 15, 33, 93, 204, 170, 0, 0, 205, 0, 218, 34, 90, 0, 194, 31, 212];
    assert.deepEqual(
      Array.from(vpnComposeOutput(Float64Array.from(Y), Float64Array.from(cb), Float64Array.from(cr), 8, { contrastStretch: true })),
      rgb,
    );
  });

  test('clean path rounds half up and clips', () => {
    const out = vpnComposeOutput([-3, 300, 99.5], [128, 128, 128], [128, 128, 128], 3, { contrastStretch: false });
    assert.deepEqual(Array.from(out), [0, 0, 0, 255, 255, 255, 100, 100, 100]);
    assert.throws(() => vpnComposeOutput([1], [1, 2], [1], 1, { contrastStretch: true }), RangeError);
  });
});
