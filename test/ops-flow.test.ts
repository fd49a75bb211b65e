import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { RgbFrame } from '../src/core/types.js';
import {
  computeFlow,
  flowBackends,
  flowConsistency,
  interleavedXYToPlanarYX,
  planarYXToInterleavedXY,
  rgbToGray,
} from '../src/ops/flow.js';
import { loadOpenCv } from '../src/ops/flow-farneback.js';
import { warpBilinear } from '../src/ops/warp.js';
import { rng } from './helpers/random.js';
import { projectRoot } from './helpers/shared.js';

const W = 160;
const H = 120;
const MARGIN = 16;

type Texture = (y: number, x: number) => [number, number, number];

/**
 * A smooth analytic texture: per channel, a sum of sinusoids with wavelengths 6-40 px in random
 * directions. Shifted frames are made by evaluating it at shifted coordinates, so the true flow
 * is exact (no resampling error in the ground truth).
 */
function texture(seed: number, waves = 14): Texture {
  const r = rng(seed);
  const comps = Array.from({ length: waves }, () => {
    const lambda = 6 + 34 * r();
    const theta = Math.PI * 2 * r();
    const k = (2 * Math.PI) / lambda;
    return { ky: k * Math.sin(theta), kx: k * Math.cos(theta), phase: 2 * Math.PI * r(), amp: 0.5 + r(), mix: [r(), r(), r()] };
  });
  const norm = comps.reduce((s, c) => s + c.amp, 0);
  return (y, x) => {
    const rgb: [number, number, number] = [0, 0, 0];
    for (const c of comps) {
      const s = (c.amp * Math.sin(c.ky * y + c.kx * x + c.phase)) / norm;
      for (let ch = 0; ch < 3; ch++) rgb[ch] += s * (0.4 + c.mix[ch]);
    }
    return rgb.map((v) => 128 + 150 * v) as [number, number, number];
  };
}

function render(width: number, height: number, pixel: (y: number, x: number) => [number, number, number]): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = pixel(y, x);
      for (let c = 0; c < 3; c++) data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(p[c])));
    }
  }
  return { width, height, data };
}

/** Mean end-point error against a constant flow over the interior (MARGIN px border excluded). */
function interiorEpe(flow: Float32Array, dy: number, dx: number, width = W, height = H): number {
  const n = width * height;
  let sum = 0;
  let count = 0;
  for (let y = MARGIN; y < height - MARGIN; y++) {
    for (let x = MARGIN; x < width - MARGIN; x++) {
      const i = y * width + x;
      sum += Math.hypot(flow[i] - dy, flow[n + i] - dx);
      count++;
    }
  }
  return sum / count;
}

function interiorMean(values: Float32Array, offset: number): number {
  let sum = 0;
  let count = 0;
  for (let y = MARGIN; y < H - MARGIN; y++) {
    for (let x = MARGIN; x < W - MARGIN; x++) {
      sum += values[offset + y * W + x];
      count++;
    }
  }
  return sum / count;
}

/**
 * Mean |cur − warpBilinear(prev, flow')| over the interior, on grey, where flow' is the flow
 * scaled by (sy, sx) and optionally channel-swapped: a photometric check of the convention,
 * independent of the ground truth, through the warp the rest of vprop uses.
 */
function warpResidual(prevGray: Uint8Array, curGray: Uint8Array, flow: Float32Array, sy: number, sx: number, swap = false): number {
  const n = W * H;
  const f = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    f[i] = sy * (swap ? flow[n + i] : flow[i]);
    f[n + i] = sx * (swap ? flow[i] : flow[n + i]);
  }
  const warped = warpBilinear(Float32Array.from(prevGray), 1, H, W, f, 'replicate');
  let sum = 0;
  let count = 0;
  for (let y = MARGIN; y < H - MARGIN; y++) {
    for (let x = MARGIN; x < W - MARGIN; x++) {
      sum += Math.abs(curGray[y * W + x] - warped[y * W + x]);
      count++;
    }
  }
  return sum / count;
}

// The ground truth: cur(y, x) = prev(y + DY, x + DX), so the backward flow (cur → prev) is (DY, DX).
const DY = 1.5;
const DX = -2.25;
const tex = texture(7);
const prev = render(W, H, tex);
const cur = render(W, H, (y, x) => tex(y + DY, x + DX));

const backends = await flowBackends();
const dis = backends.find((b) => b.name === 'dis');
const disSkip = dis?.available ? false : `DIS addon unavailable: ${dis?.detail}`;

describe('flow backends', () => {
  test('flowBackends reports both backends, Farneback always available', (t) => {
    assert.deepEqual(
      backends.map((b) => b.name),
      ['dis', 'farneback'],
    );
    for (const b of backends) {
      t.diagnostic(`${b.name}: ${b.available ? 'available' : 'unavailable'} (${b.detail})`);
      assert.ok(b.detail.length > 0);
    }
    assert.equal(backends[1].available, true);
  });

  test("'auto' falls back to Farneback when the addon is disabled; 'dis' then throws", async () => {
    // A child process, because the addon's load outcome is cached per process.
    const script = `
      import { computeFlow, flowBackends } from './src/ops/flow.ts';
      const f = { width: 32, height: 24, data: new Uint8Array(32 * 24 * 3).map((_, i) => (i * 31) & 255) };
      const r = await computeFlow(f, f);
      const b = await flowBackends();
      let err = '';
      try { await computeFlow(f, f, { backend: 'dis' }); } catch (e) { err = e.message; }
      const handlers = process.listeners('uncaughtException').length + process.listeners('unhandledRejection').length;
      console.log(JSON.stringify({ backend: r.backend, dis: b[0], err, handlers }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: projectRoot,
      env: { ...process.env, VPROP_DIS_ADDON: 'off' },
    });
    const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
    assert.equal(out.backend, 'farneback');
    assert.equal(out.dis.available, false);
    assert.match(out.dis.detail, /disabled/);
    assert.match(out.err, /DIS backend unavailable/);
    assert.equal(out.handlers, 0, "OpenCV.js's process-wide error handlers are removed");
  });
});

describe('native DIS addon', () => {
  test('sync and async calls agree; bad arguments throw instead of crashing', { skip: disSkip }, async () => {
    const { loadDisAddon } = await import('../src/ops/flow-dis.js');
    const r = loadDisAddon();
    assert.ok(r.addon, 'addon loads');
    const { addon } = r;
    const a = rgbToGray(prev);
    const b = rgbToGray(cur);
    const sync = addon.disFlow(b, a, W, H, 2);
    const async = await addon.disFlowAsync(b, a, W, H, 2);
    assert.ok(sync instanceof Float32Array && sync.length === 2 * W * H);
    assert.deepEqual(async, sync);
    assert.throws(() => addon.disFlow(b.subarray(1), a, W, H, 1), RangeError);
    assert.throws(() => addon.disFlow(b, a, W, H, 3 as 1), RangeError);
    assert.throws(() => addon.disFlow(new Float32Array(W * H) as unknown as Uint8Array, a, W, H, 1), TypeError);
    assert.throws(() => addon.disFlowAsync(b, a, W, 0, 1), RangeError);
    assert.equal((await computeFlow(prev, cur)).backend, 'dis', "'auto' prefers the addon when it loads");
  });
});

describe('computeFlow on a known sub-pixel translation', () => {
  const cases: { name: string; backend: 'farneback' | 'dis'; preset?: 'fast' | 'medium'; skip: string | false }[] = [
    { name: 'farneback', backend: 'farneback', skip: false },
    { name: 'dis medium', backend: 'dis', preset: 'medium', skip: disSkip },
    { name: 'dis fast', backend: 'dis', preset: 'fast', skip: disSkip },
  ];
  for (const c of cases) {
    test(`${c.name}: interior EPE < 0.3 px, cur → prev with dy first`, { skip: c.skip }, async (t) => {
      const r = await computeFlow(prev, cur, { backend: c.backend, preset: c.preset });
      assert.equal(r.backend, c.backend);
      assert.equal(r.flow.length, 2 * H * W);
      const epe = interiorEpe(r.flow, DY, DX);
      t.diagnostic(`${r.description}: interior EPE ${epe.toFixed(4)} px`);
      assert.ok(epe < 0.3, `EPE ${epe}`);
      // The convention, explicitly: channel 0 is the row displacement (+1.5), channel 1 the
      // column displacement (−2.25), and both point from cur into prev.
      assert.ok(Math.abs(interiorMean(r.flow, 0) - DY) < 0.2, `mean dy ${interiorMean(r.flow, 0)}`);
      assert.ok(Math.abs(interiorMean(r.flow, H * W) - DX) < 0.2, `mean dx ${interiorMean(r.flow, H * W)}`);
      // And photometrically: warping prev by the flow (sampling at (y + dy, x + dx)) reproduces
      // cur; the negated or channel-swapped readings do not.
      const pg = rgbToGray(prev);
      const cg = rgbToGray(cur);
      const right = warpResidual(pg, cg, r.flow, 1, 1);
      t.diagnostic(`${r.description}: |cur − warp(prev)| ${right.toFixed(2)} grey levels`);
      assert.ok(right < 3, `warp residual ${right}`);
      assert.ok(right < 0.5 * warpResidual(pg, cg, r.flow, -1, -1), 'negated flow fits as well');
      assert.ok(right < 0.5 * warpResidual(pg, cg, r.flow, 1, 1, true), 'swapped channels fit as well');

      // direction 'forward' (prev → cur) is the opposite displacement.
      const f = await computeFlow(prev, cur, { backend: c.backend, preset: c.preset, direction: 'forward' });
      const fepe = interiorEpe(f.flow, -DY, -DX);
      t.diagnostic(`${r.description}: forward interior EPE ${fepe.toFixed(4)} px`);
      assert.ok(fepe < 0.3, `forward EPE ${fepe}`);
    });
  }

  test('OpenCV.js Mats are freed: the WebAssembly heap does not grow over 50 calls', async () => {
    const { cv } = await loadOpenCv();
    // A 4 MiB probe lands above everything still allocated; leaked Mats (≈190 kB per call at
    // 160x120) would push it up by megabytes, freed ones leave it where it was.
    const probe = () => {
      const p = cv._malloc(1 << 22);
      cv._free(p);
      return p;
    };
    await computeFlow(prev, cur, { backend: 'farneback' });
    const before = probe();
    for (let i = 0; i < 50; i++) await computeFlow(prev, cur, { backend: 'farneback' });
    const after = probe();
    assert.ok(after - before < 1 << 16, `heap grew by ${after - before} bytes`);
  });

  test('rejects mismatched or malformed frames', async () => {
    const small = render(W / 2, H, tex);
    await assert.rejects(computeFlow(prev, small), /prev is 160x120 but cur is 80x120/);
    await assert.rejects(computeFlow({ width: W, height: H, data: new Uint8Array(10) }, cur), /expected 160x120x3/);
    await assert.rejects(computeFlow(prev, cur, { backend: 'nope' as 'dis' }), /unknown backend/);
  });
});

describe('flow layout helpers', () => {
  test('interleaved (dx, dy) ↔ planar (dy, dx) round trip', () => {
    const xy = new Float32Array([1, 2, 3, 4, 5, 6]); // 3 pixels: (dx, dy) = (1,2), (3,4), (5,6)
    const planar = interleavedXYToPlanarYX(xy, 1, 3);
    assert.deepEqual([...planar], [2, 4, 6, 1, 3, 5]);
    assert.deepEqual([...planarYXToInterleavedXY(planar, 1, 3)], [...xy]);
  });

  test("rgbToGray uses OpenCV's RGB2GRAY weights", () => {
    const g = rgbToGray({ width: 4, height: 1, data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200]) });
    assert.deepEqual([...g], [76, 150, 29, 200]);
  });
});

describe('flowConsistency', () => {
  function constantFlow(dy: number, dx: number, width = W, height = H): Float32Array {
    const f = new Float32Array(2 * width * height);
    f.fill(dy, 0, width * height);
    f.fill(dx, width * height);
    return f;
  }

  test('exact inverse flows are consistent; pixels mapped outside the image are not', () => {
    const c = flowConsistency(constantFlow(0, 5), constantFlow(0, -5), H, W);
    assert.equal(c[10 * W + 20], 1);
    assert.equal(c[10 * W + W - 3], 0, 'x + 5 is outside the image');
    assert.equal(c[10 * W + W - 6], 1, 'x + 5 = W − 1 is the last pixel');
  });

  test('threshold follows α1(|w|²+|ŵ|²) + α2; soft mode is 0.5 at the threshold', () => {
    // w = (0, 4), ŵ = (0, −3.3): |w+ŵ|² = 0.49 < 0.01·(16 + 10.89) + 0.5 = 0.7689.
    assert.equal(flowConsistency(constantFlow(0, 4), constantFlow(0, -3.3), H, W)[50 * W + 50], 1);
    // ŵ = (0, −3): |w+ŵ|² = 1 > 0.75.
    assert.equal(flowConsistency(constantFlow(0, 4), constantFlow(0, -3), H, W)[50 * W + 50], 0);
    const soft = flowConsistency(constantFlow(0, 4), constantFlow(0, -3), H, W, { mode: 'soft', alpha1: 0, alpha2: 1 });
    assert.ok(Math.abs(soft[50 * W + 50] - 0.5) < 1e-6);
    const perfect = flowConsistency(constantFlow(0, 4), constantFlow(0, -4), H, W, { mode: 'soft' });
    assert.equal(perfect[50 * W + 50], 1);
  });

  test('samples the reverse flow bilinearly at the sub-pixel target', () => {
    // Reverse dx = −x/10 varies along x. With w = (0, 2.5), pixel x = 20 lands on 22.5 where the
    // bilinear reverse flow is −2.25: |w + ŵ|² = 0.0625 and soft = 1 − 0.0625 / (2·0.1) = 0.6875
    // (nearest sampling would give 0.55 or 0.8).
    const rev = constantFlow(0, 0);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) rev[H * W + y * W + x] = -x / 10;
    const c = flowConsistency(constantFlow(0, 2.5), rev, H, W, { alpha1: 0, alpha2: 0.1, mode: 'soft' });
    assert.ok(Math.abs(c[40 * W + 20] - 0.6875) < 1e-5, `got ${c[40 * W + 20]}`);
    assert.ok(c[40 * W + 22] > 0.9, 'near x = 22.5 the round trip closes');
    assert.equal(c[40 * W + 40], 0);
  });

  test('marks background uncovered by a moving object as occluded (Farneback and DIS)', async (t) => {
    // A 40x40 textured square moves 8 px right over a static background; in cur the strip it
    // left behind (x in [50, 58)) was hidden in prev.
    const bg = texture(11);
    const fg = texture(23, 10);
    const scene = (sx: number) => (y: number, x: number) =>
      y >= 40 && y < 80 && x >= sx && x < sx + 40 ? (fg(y, x - sx).map((v) => 255 - v) as [number, number, number]) : bg(y, x);
    const p = render(W, H, scene(50));
    const q = render(W, H, scene(58));
    const mean = (m: Float32Array, y0: number, y1: number, x0: number, x1: number) => {
      let s = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) s += m[y * W + x];
      return s / ((y1 - y0) * (x1 - x0));
    };
    for (const backend of ['farneback', 'dis'] as const) {
      if (backend === 'dis' && disSkip) {
        t.diagnostic(`dis skipped: ${disSkip}`);
        continue;
      }
      const back = await computeFlow(p, q, { backend }); // cur → prev, on cur's grid
      const fwd = await computeFlow(p, q, { backend, direction: 'forward' }); // prev → cur
      const conf = flowConsistency(back.flow, fwd.flow, H, W);
      const strip = mean(conf, 44, 76, 51, 57);
      const background = (mean(conf, 16, 104, 16, 36) + mean(conf, 16, 104, 116, 144)) / 2;
      const object = mean(conf, 46, 74, 66, 92);
      t.diagnostic(`${backend}: uncovered ${strip.toFixed(3)}, background ${background.toFixed(3)}, object ${object.toFixed(3)}`);
      assert.ok(strip < 0.4, `${backend}: uncovered strip confidence ${strip}`);
      assert.ok(background > 0.9, `${backend}: background confidence ${background}`);
      assert.ok(object > 0.8, `${backend}: object confidence ${object}`);
    }
  });
});
