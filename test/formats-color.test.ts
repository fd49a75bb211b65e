import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  D65_WHITE,
  labToRgb,
  labToRgb8,
  linearToSrgb,
  linearToSrgbArray,
  PIL_YCBCR_TABLES,
  pilRgbToYcbcr,
  pilYcbcrToRgb,
  rec709Luminance,
  rec709LuminanceArray,
  rgb8ToLab,
  rgbToLab,
  rgbToYcbcr,
  rgbToYcbcr8,
  rgbToYcbcrPixel,
  srgbToLinear,
  srgbToLinearArray,
  ycbcr8ToRgb,
  ycbcrToRgb,
  ycbcrToRgbPixel,
} from '../src/formats/color.js';

function close(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected} (±${tolerance})`);
}

/** Every 8-bit RGB triple on a grid with the given step (always including 255). */
function rgbGrid(step: number): Uint8Array {
  const levels: number[] = [];
  for (let v = 0; v < 255; v += step) levels.push(v);
  levels.push(255);
  const out = new Uint8Array(levels.length ** 3 * 3);
  let k = 0;
  for (const r of levels) for (const g of levels) for (const b of levels) out.set([r, g, b], 3 * k++);
  return out;
}

test('sRGB transfer: piecewise curve, known points, inverse', () => {
  assert.equal(srgbToLinear(0), 0);
  close(srgbToLinear(1), 1, 1e-12, 'white');
  // Linear segment below the 0.04045 knee, power segment above it.
  close(srgbToLinear(0.04), 0.04 / 12.92, 1e-12, 'linear part');
  close(srgbToLinear(0.5), 0.21404114, 1e-7, 'mid grey');
  close(linearToSrgb(0.18), 0.46135612, 1e-7, '18% grey');
  close(linearToSrgb(0.002), 0.002 * 12.92, 1e-12, 'linear part');
  // The two segments meet: no jump at the knee.
  close(srgbToLinear(0.04045), srgbToLinear(0.0404501), 1e-7, 'continuity');
  for (let v = 0; v <= 1; v += 1 / 64) close(linearToSrgb(srgbToLinear(v)), v, 1e-12, `inverse at ${v}`);
  const values = Float32Array.of(0, 0.25, 0.5, 1);
  const linear = srgbToLinearArray(values);
  values.forEach((v, i) => {
    close(linear[i], srgbToLinear(v), 1e-7, `array ${i}`);
  });
  const back = linearToSrgbArray(linear);
  values.forEach((v, i) => {
    close(back[i], v, 1e-6, `array inverse ${i}`);
  });
});

test('Lab known values: white, red, blue, black, grey', () => {
  const [Lw, aw, bw] = rgb8ToLab(255, 255, 255);
  close(Lw, 100, 1e-3, 'white L');
  close(aw, 0, 1e-3, 'white a');
  close(bw, 0, 1e-3, 'white b');
  const [Lr, ar, br] = rgb8ToLab(255, 0, 0);
  close(Lr, 53.24, 0.02, 'red L');
  close(ar, 80.09, 0.02, 'red a');
  close(br, 67.2, 0.02, 'red b');
  const [Lb, ab, bb] = rgb8ToLab(0, 0, 255);
  close(Lb, 32.3, 0.02, 'blue L');
  close(ab, 79.19, 0.02, 'blue a');
  close(bb, -107.86, 0.02, 'blue b');
  assert.deepEqual(rgb8ToLab(0, 0, 0), [0, 0, 0]);
  // Greys are neutral: a = b = 0 at every level.
  for (const v of [1, 50, 128, 200]) {
    const [, a, b] = rgb8ToLab(v, v, v);
    close(a, 0, 1e-3, `grey ${v} a`);
    close(b, 0, 1e-3, `grey ${v} b`);
  }
  assert.equal(D65_WHITE.x, 0.95047);
  assert.deepEqual(labToRgb8(53.2408, 80.0925, 67.2032), [255, 0, 0]);
  // Out-of-gamut Lab clamps rather than wrapping: brighter than white, darker than black, and
  // a magenta whose green would be negative and blue above 255.
  assert.deepEqual(labToRgb8(120, 0, 0), [255, 255, 255]);
  assert.deepEqual(labToRgb8(-10, 0, 0), [0, 0, 0]);
  const [, g, b] = labToRgb8(50, 200, -200);
  assert.deepEqual([g, b], [0, 255]);
});

test('Lab planar layout and RGB -> Lab -> RGB round trip on a grid of colours', () => {
  const rgb = rgbGrid(5); // 52^3 = 140608 colours
  const n = rgb.length / 3;
  const lab = rgbToLab(rgb, n);
  assert.equal(lab.length, 3 * n);
  // Planar: pixel i's L, a, b sit at i, n + i, 2n + i.
  const probe = 1234;
  const [L, a, b] = rgb8ToLab(rgb[3 * probe], rgb[3 * probe + 1], rgb[3 * probe + 2]);
  close(lab[probe], L, 1e-4, 'L');
  close(lab[n + probe], a, 1e-4, 'a');
  close(lab[2 * n + probe], b, 1e-4, 'b');
  const back = labToRgb(lab, n);
  let maxError = 0;
  let mismatches = 0;
  for (let i = 0; i < rgb.length; i++) {
    const e = Math.abs(back[i] - rgb[i]);
    if (e > maxError) maxError = e;
    if (e) mismatches++;
  }
  assert.ok(maxError <= 1, `max error ${maxError}`);
  assert.ok(mismatches <= rgb.length * 0.001, `${mismatches} mismatched channels`);
});

test('YCbCr (JPEG full range) formulas, layouts and inverses', () => {
  assert.deepEqual(rgbToYcbcrPixel(0, 0, 0), [0, 128, 128]);
  const [y, cb, cr] = rgbToYcbcrPixel(255, 255, 255);
  close(y, 255, 1e-9, 'white Y');
  close(cb, 128, 1e-9, 'white Cb');
  close(cr, 128, 1e-9, 'white Cr');
  const red = rgbToYcbcrPixel(255, 0, 0);
  close(red[0], 76.245, 1e-9, 'red Y');
  close(red[1], 128 - 0.168736 * 255, 1e-9, 'red Cb');
  close(red[2], 255.5, 1e-9, 'red Cr');
  const inverse = ycbcrToRgbPixel(...rgbToYcbcrPixel(12, 200, 77));
  [12, 200, 77].forEach((v, i) => {
    close(inverse[i], v, 1e-3, `pixel inverse ${i}`);
  });

  const rgb = rgbGrid(15);
  const n = rgb.length / 3;
  const planar = rgbToYcbcr(rgb, n);
  const p = 100;
  const expected = rgbToYcbcrPixel(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]);
  close(planar[p], expected[0], 1e-4, 'planar Y');
  close(planar[n + p], expected[1], 1e-4, 'planar Cb');
  close(planar[2 * n + p], expected[2], 1e-4, 'planar Cr');
  assert.deepEqual(ycbcrToRgb(planar, n), rgb, 'float round trip is exact after rounding');

  const bytes = rgbToYcbcr8(rgb, n);
  assert.deepEqual([...rgbToYcbcr8(Uint8Array.of(255, 0, 0), 1)], [76, 85, 255], 'rounded, Cr clamped from 255.5');
  const back = ycbcr8ToRgb(bytes, n);
  let maxError = 0;
  for (let i = 0; i < rgb.length; i++) maxError = Math.max(maxError, Math.abs(back[i] - rgb[i]));
  // 8-bit quantisation of YCbCr loses up to about 1.5 codes after the inverse matrix.
  assert.ok(maxError <= 2, `8-bit round trip max error ${maxError}`);
});

test('PIL fixed-point YCbCr: tables and outputs match libImaging/ConvertYCbCr.c', () => {
  const T = PIL_YCBCR_TABLES;
  // Entries copied from Pillow's source tables.
  assert.deepEqual([...T.yR.subarray(0, 6)], [0, 19, 38, 57, 77, 96]);
  assert.equal(T.yR[255], 4880);
  assert.deepEqual([...T.yG.subarray(0, 5)], [0, 38, 75, 113, 150]);
  assert.equal(T.yB[255], 1860);
  assert.deepEqual([...T.cbR.subarray(0, 9)], [0, -10, -21, -31, -42, -53, -64, -75, -85]);
  assert.equal(T.cbG[255], -5405);
  assert.deepEqual([...T.crG.subarray(0, 5)], [0, -26, -53, -79, -106]);
  assert.deepEqual([...T.crB.subarray(0, 5)], [0, -4, -9, -15, -20]);
  assert.deepEqual([...T.rCr.subarray(126, 131)], [-178, -89, 0, 90, 179]);
  assert.deepEqual([...T.gCb.subarray(127, 131)], [22, 0, -21, -43]);
  assert.deepEqual([...T.gCr.subarray(0, 3)], [5850, 5805, 5759]);
  assert.deepEqual([...T.bCb.subarray(0, 3)], [-14515, -14402, -14288]);
  assert.equal(T.bCb[255], 14403);

  // PIL: red -> (76, 84, 255); Cb is floored (84) where rounding would give 85.
  assert.deepEqual([...pilRgbToYcbcr(Uint8Array.of(255, 0, 0, 255, 255, 255, 0, 0, 0), 3)], [76, 84, 255, 255, 128, 128, 0, 128, 128]);
  assert.deepEqual([...pilYcbcrToRgb(Uint8Array.of(255, 128, 128, 0, 128, 128), 2)], [255, 255, 255, 0, 0, 0]);

  // Against the float formulas, PIL's floor makes it equal or one below (never above by more
  // than the table rounding), and its inverse recovers RGB to within a few codes.
  const rgb = rgbGrid(7);
  const n = rgb.length / 3;
  const pil = pilRgbToYcbcr(rgb, n);
  const rounded = rgbToYcbcr8(rgb, n);
  let differ = 0;
  for (let i = 0; i < pil.length; i++) {
    const d = rounded[i] - pil[i];
    assert.ok(d >= -1 && d <= 1, `channel ${i}: PIL ${pil[i]} vs rounded ${rounded[i]}`);
    if (d) differ++;
  }
  assert.ok(differ > 0, 'PIL differs from rounding somewhere (else the fixed-point path is not exercised)');
  const back = pilYcbcrToRgb(pil, n);
  let maxError = 0;
  for (let i = 0; i < rgb.length; i++) maxError = Math.max(maxError, Math.abs(back[i] - rgb[i]));
  assert.ok(maxError <= 4, `PIL round trip max error ${maxError}`);
});

test('Rec. 709 luminance of linear radiance', () => {
  assert.equal(rec709Luminance(1, 1, 1), 1);
  assert.equal(rec709Luminance(1, 0, 0), 0.2126);
  assert.equal(rec709Luminance(0, 1, 0), 0.7152);
  assert.equal(rec709Luminance(0, 0, 1), 0.0722);
  const lum = rec709LuminanceArray(Float32Array.of(1, 0, 0, 0, 2, 0, 10, 10, 10), 3);
  close(lum[0], 0.2126, 1e-6, 'red');
  close(lum[1], 1.4304, 1e-6, 'green x2');
  close(lum[2], 10, 1e-5, 'grey 10');
});
