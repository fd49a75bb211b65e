import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RadianceImage, RgbFrame } from '../src/core/types.js';
import { srgbToLinear } from '../src/formats/color.js';
import { exposeLdr } from '../src/synth/index.js';
import {
  blendLdrIntoProperty,
  blendLdrIntoRadiance,
  channelTrust,
  constrainToLdr,
  estimateExposure,
  HDR_LOG_EPSILON,
  ldrToRadiance,
  radianceToProperty,
  wellExposedWeights,
} from '../src/tasks/index.js';
import { rng } from './helpers/random.js';

const lin = (code: number) => srgbToLinear(code / 255);
const frame = (codes: number[]): RgbFrame => ({ width: codes.length / 3, height: 1, data: Uint8Array.from(codes) });

describe('HDR from the LDR frame', () => {
  test('channel trust follows the documented rule: 0 at low and high, 1 between low + ramp and high - ramp, linear between', () => {
    assert.equal(channelTrust(0), 0);
    assert.equal(channelTrust(16), 0);
    assert.equal(channelTrust(24), 0.5);
    assert.equal(channelTrust(32), 1);
    assert.equal(channelTrust(128), 1);
    assert.equal(channelTrust(234), 1);
    assert.equal(channelTrust(242), 0.5);
    assert.equal(channelTrust(250), 0);
    assert.equal(channelTrust(255), 0);
    // Per channel: a saturated blue keeps its blue.
    assert.deepEqual([...wellExposedWeights(frame([3, 10, 200]))], [0, 0, 1]);
    assert.throws(() => wellExposedWeights(frame([1, 2, 3]), { low: 100, high: 120, ramp: 16 }), /high - low >= 2 ramp/);
  });

  test('per-frame inverse tone mapping inverts the curve; a clipped code gives the curve maximum', () => {
    const ldr = frame([0, 1, 64, 128, 254, 255]);
    const r = ldrToRadiance(ldr, 4);
    assert.deepEqual([...r.data], [0, lin(1) / 4, lin(64) / 4, lin(128) / 4, lin(254) / 4, 1 / 4].map(Math.fround));
    assert.throws(() => ldrToRadiance(ldr, 0), /exposure/);
  });

  test('the exposure estimate is exact on well-exposed pixels and ignores clipped, dark and wrong ones', () => {
    const e = 0.37;
    const codes: number[] = [];
    const reference: number[] = [];
    // 60 exact well-exposed values (radiance exactly lin(code)/e) ...
    for (let i = 0; i < 60; i++) {
      const c = 40 + 3 * i;
      codes.push(c);
      reference.push(lin(c) / e);
    }
    // ... 39 with the reference 5x too bright (a propagation error), 30 clipped, 30 dark.
    for (let i = 0; i < 39; i++) {
      codes.push(100);
      reference.push((5 * lin(100)) / e);
    }
    for (let i = 0; i < 30; i++) {
      codes.push(255, 3);
      reference.push(1000, 1e-6);
    }
    const ldr = frame(codes);
    const ref: RadianceImage = { width: 53, height: 1, data: Float32Array.from(reference) };
    const est = estimateExposure(ldr, ref);
    assert.ok(est !== undefined && Math.abs(Math.log(est / e)) < 1e-6, `${est}`);
    assert.equal(estimateExposure(frame([255, 255, 0]), { width: 1, height: 1, data: Float32Array.from([1, 1, 1]) }), undefined);
  });

  test('the blend takes the measurement where trusted, keeps the propagated value where not, mixes on the ramp', () => {
    const e = 2;
    // pixel 0: codes 128, 255, 10; pixel 1: codes 24, 242, 200
    const ldr = { width: 2, height: 1, data: Uint8Array.from([128, 255, 10, 24, 242, 200]) };
    const n = 2;
    const prop = { width: 2, height: 1, channels: 3, data: Float32Array.from([0.5, -1, 3, 0.25, 2, -2]) };
    const out = blendLdrIntoProperty(prop, ldr, { exposure: e }).result.data;
    const m = (c: number) => Math.log(lin(c) / e + HDR_LOG_EPSILON);
    // planar: channel c of pixel i at c * n + i
    const expected = [
      [m(128), 0.5 * m(24) + 0.5 * prop.data[1]], // R
      [prop.data[2], 0.5 * m(242) + 0.5 * prop.data[3]], // G: clipped, then ramp
      [prop.data[4], m(200)], // B: dark, then trusted
    ];
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < n; i++) assert.ok(Math.abs(out[c * n + i] - expected[c][i]) < 1e-6, `channel ${c} pixel ${i}`);
  });

  test('blending the truth with its own LDR frame changes it by at most the quantisation of trusted codes', () => {
    const r = rng(3);
    const n = 500;
    const truth: RadianceImage = { width: n, height: 1, data: Float32Array.from({ length: 3 * n }, () => 10 ** (4 * r() - 2)) };
    const e = 0.8;
    const ldr = exposeLdr(truth, e);
    const out = blendLdrIntoRadiance(truth, ldr, { exposure: e }).result.data;
    for (let i = 0; i < 3 * n; i++) {
      const c = ldr.data[i];
      const t = channelTrust(c);
      // Trusted codes: the measurement lin(c)/e is within half a code of e·H.
      const bound = t === 0 ? 1e-5 : Math.log(lin(Math.min(255, c + 0.5)) / lin(c - 0.5));
      assert.ok(Math.abs(Math.log((out[i] + 0.01) / (truth.data[i] + 0.01))) <= bound + 1e-5, `code ${c}`);
    }
  });

  test('constraining the truth to its own LDR frame leaves it unchanged; values outside the interval go to its ends', () => {
    const r = rng(9);
    const n = 2000;
    const truth: RadianceImage = { width: n, height: 1, data: Float32Array.from({ length: 3 * n }, () => 10 ** (5 * r() - 3)) };
    const e = 1.7;
    const ldr = exposeLdr(truth, e);
    const p = radianceToProperty(truth);
    const same = constrainToLdr(p, ldr, { exposure: e }).result.data;
    for (let i = 0; i < same.length; i++) assert.ok(Math.abs(same[i] - p.data[i]) <= 1e-6, `${i}`);

    // code 128 with a value far above, code 255 with a value below the clip, code 0 with a value above black
    const one = { width: 1, height: 1, data: Uint8Array.from([128, 255, 0]) };
    const q = { width: 1, height: 1, channels: 3, data: Float32Array.from([5, -3, 0]) };
    const res = constrainToLdr(q, one, { exposure: e });
    const ln = (v: number) => Math.log(v / e + HDR_LOG_EPSILON);
    assert.ok(Math.abs(res.result.data[0] - ln(lin(128.5))) < 1e-6);
    assert.ok(Math.abs(res.result.data[1] - ln(lin(254.5))) < 1e-6);
    assert.ok(Math.abs(res.result.data[2] - ln(lin(0.5))) < 1e-6);
    assert.equal(res.meanWeight, 1);
    // A clipped value above the clip stays where it is, and so does a dark one below code 0's bound.
    const dark = Math.fround(Math.log(HDR_LOG_EPSILON + 1e-5));
    const high = constrainToLdr({ ...q, data: Float32Array.from([ln(lin(128)), 9, dark]) }, one, { exposure: e });
    assert.equal(high.result.data[1], 9);
    assert.equal(high.result.data[2], dark);
    assert.equal(high.meanWeight, 0);
  });

  test('without a usable exposure the propagated map comes back unchanged; sizes must match', () => {
    const prop = { width: 1, height: 1, channels: 3, data: Float32Array.from([1, 2, 3]) };
    const clipped = frame([255, 255, 255]);
    const b = blendLdrIntoProperty(prop, clipped);
    assert.equal(b.exposure, undefined);
    assert.deepEqual([...b.result.data], [1, 2, 3]);
    assert.equal(constrainToLdr(prop, clipped).exposure, undefined);
    assert.throws(() => blendLdrIntoProperty(prop, frame([1, 2, 3, 4, 5, 6])), /size mismatch/);
  });
});
