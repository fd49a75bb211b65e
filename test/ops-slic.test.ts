import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { labelEdges } from '../src/metrics/superpixels.js';
import { compactnessFromCohWeight, createSlicWorkspace, GSLICR_COMPACTNESS, slic } from '../src/ops/slic.js';
import {
  smear,
  superpixelMeans,
  superpixelMode,
  superpixelPixelCounts,
  superpixelVpnFeatures,
  VPN_FEATURE_CHANNELS,
} from '../src/ops/superpixel-features.js';
import { sharedPath } from './helpers/shared.js';

/** Deterministic xorshift32 in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Smooth gradients, a periodic blob pattern and per-pixel noise: texture everywhere. */
function texturedImage(width: number, height: number, seed = 7): Uint8Array {
  const r = rng(seed);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const blob = Math.sin(x * 0.05) * Math.cos(y * 0.07) > 0.3 ? 60 : 0;
      const noise = (r() - 0.5) * 24;
      rgb[i] = clamp8((x * 255) / width + noise + blob);
      rgb[i + 1] = clamp8((y * 255) / height + noise);
      rgb[i + 2] = clamp8(128 + 100 * Math.sin((x + y) * 0.02) + noise - blob);
    }
  }
  return rgb;
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Flat-colour regions with sharp edges (background, disc, rectangle, triangle, ring), plus
 * optional uniform per-channel noise of ±`noise` to mimic sensor grain.
 */
function regionImage(width: number, height: number, noise = 0): { rgb: Uint8Array; region: Uint8Array } {
  const r = rng(12345);
  const colours = [
    [40, 60, 160],
    [220, 40, 40],
    [30, 200, 60],
    [240, 220, 50],
    [150, 50, 200],
  ];
  const region = new Uint8Array(width * height);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let id = 0;
      if ((x - 90) ** 2 + (y - 80) ** 2 < 50 ** 2) id = 1;
      else if (x >= 170 && x < 290 && y >= 30 && y < 110) id = 2;
      else if (y >= 140 && y < 230 && Math.abs(x - 100) < (y - 140) * 0.8) id = 3;
      else if ((x - 230) ** 2 + (y - 180) ** 2 < 45 ** 2 && (x - 230) ** 2 + (y - 180) ** 2 > 20 ** 2) id = 4;
      const p = y * width + x;
      region[p] = id;
      for (let c = 0; c < 3; c++) rgb[p * 3 + c] = clamp8(colours[id][c] + (r() - 0.5) * 2 * noise);
    }
  }
  return { rgb, region };
}

/** Number of 4-connected components of equal value (flood fill). */
function componentCount(labels: Int32Array, width: number, height: number): number {
  const n = width * height;
  const seen = new Uint8Array(n);
  const queue = new Int32Array(n);
  let components = 0;
  for (let s = 0; s < n; s++) {
    if (seen[s]) continue;
    components++;
    const l = labels[s];
    seen[s] = 1;
    queue[0] = s;
    let head = 0;
    let tail = 1;
    while (head < tail) {
      const p = queue[head++];
      const x = p % width;
      const y = (p - x) / width;
      const nbrs = [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1];
      for (const q of nbrs) {
        if (q >= 0 && !seen[q] && labels[q] === l) {
          seen[q] = 1;
          queue[tail++] = q;
        }
      }
    }
  }
  return components;
}

function assertContiguous(labels: Int32Array, count: number): void {
  const counts = superpixelPixelCounts(labels, count); // throws on ids outside 0..count-1
  for (let s = 0; s < count; s++) assert.ok(counts[s] > 0, `superpixel ${s} is empty`);
}

test('compactness mapping: gSLICr coh_weight 1.5 is textbook m ≈ 12.71, m ∝ sqrt(w)', () => {
  assert.ok(Math.abs(GSLICR_COMPACTNESS - 12.71) < 0.01, `got ${GSLICR_COMPACTNESS}`);
  assert.ok(Math.abs(compactnessFromCohWeight(6) - 2 * GSLICR_COMPACTNESS) < 1e-9);
});

test('854x480 with 12000 segments: count within 15%, 4-connected, contiguous, deterministic', () => {
  const W = 854;
  const H = 480;
  const rgb = texturedImage(W, H);
  const a = slic(rgb, W, H, { segments: 12000 });
  assert.ok(Math.abs(a.count - 12000) <= 0.15 * 12000, `count ${a.count}`);
  assert.equal(a.labels.length, W * H);
  assertContiguous(a.labels, a.count);
  assert.equal(componentCount(a.labels, W, H), a.count, 'every superpixel must be one 4-connected blob');
  const b = slic(rgb, W, H, { segments: 12000 });
  assert.equal(b.count, a.count);
  assert.deepEqual(b.labels, a.labels);
});

test('smaller image, other segment counts: count within 15%, connected, contiguous', () => {
  const W = 160;
  const H = 120;
  const rgb = texturedImage(W, H, 99);
  for (const segments of [50, 300, 1000]) {
    const r = slic(rgb, W, H, { segments });
    assert.ok(Math.abs(r.count - segments) <= 0.15 * segments, `segments ${segments}: count ${r.count}`);
    assertContiguous(r.labels, r.count);
    assert.equal(componentCount(r.labels, W, H), r.count);
  }
});

test('flat regions (clean and ±10 noise), multiscale and textbook: boundary recall > 0.95, superpixels ≥ 95% one region', () => {
  const W = 320;
  const H = 240;
  for (const [noise, colorSpace, multiscale] of [
    [0, 'cielab', true],
    [0, 'gslicr', true],
    [10, 'cielab', true],
    [0, 'cielab', false],
    [10, 'cielab', false],
  ] as const) {
    const { rgb, region } = regionImage(W, H, noise);
    const { labels, count } = slic(rgb, W, H, { segments: 600, colorSpace, multiscale });
    assert.ok(Math.abs(count - 600) <= 0.15 * 600, `count ${count}`);
    const trueEdges = labelEdges(region, W, H);
    const spEdges = labelEdges(labels, W, H);
    let edges = 0;
    let hit = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (!trueEdges[y * W + x]) continue;
        edges++;
        let found = false;
        for (let dy = -1; dy <= 1 && !found; dy++) {
          for (let dx = -1; dx <= 1 && !found; dx++) {
            const xx = x + dx;
            const yy = y + dy;
            if (xx >= 0 && yy >= 0 && xx < W && yy < H && spEdges[yy * W + xx]) found = true;
          }
        }
        if (found) hit++;
      }
    }
    assert.ok(edges > 1000, 'the synthetic image must have edges');
    const recall = hit / edges;
    assert.ok(recall > 0.95, `${colorSpace} noise ${noise} multiscale ${multiscale}: boundary recall ${recall.toFixed(4)}`);

    const hist = new Int32Array(count * 5);
    for (let p = 0; p < W * H; p++) hist[labels[p] * 5 + region[p]]++;
    let purity = 0;
    for (let s = 0; s < count; s++) {
      let total = 0;
      let best = 0;
      for (let c = 0; c < 5; c++) {
        total += hist[s * 5 + c];
        best = Math.max(best, hist[s * 5 + c]);
      }
      purity += best / total;
    }
    purity /= count;
    assert.ok(purity >= 0.95, `${colorSpace} noise ${noise} multiscale ${multiscale}: mean superpixel purity ${purity.toFixed(4)}`);
  }
});

test('workspace reuse gives identical results; wrong-size workspace and bad input are rejected', () => {
  const W = 200;
  const H = 150;
  const ws = createSlicWorkspace(W, H);
  const img1 = texturedImage(W, H, 1);
  const img2 = texturedImage(W, H, 2);
  const fresh1 = slic(img1, W, H, { segments: 400 });
  const fresh2 = slic(img2, W, H, { segments: 400 });
  const reused1 = slic(img1, W, H, { segments: 400, workspace: ws });
  const reused2 = slic(img2, W, H, { segments: 400, workspace: ws });
  assert.deepEqual(reused1.labels, fresh1.labels);
  assert.deepEqual(reused2.labels, fresh2.labels);
  assert.notEqual(reused1.labels, reused2.labels, 'results must not alias the workspace');
  assert.throws(() => slic(img1, W, H, { workspace: createSlicWorkspace(W + 1, H) }), /workspace/);
  assert.throws(() => slic(img1.subarray(3), W, H), /expected/);
  assert.throws(() => slic(img1, W, H, { segments: 0 }), /segments/);
});

test('without connectivity enforcement labels are still contiguous; 0 iterations gives the seed grid', () => {
  const W = 120;
  const H = 90;
  const rgb = texturedImage(W, H, 3);
  const r = slic(rgb, W, H, { segments: 100, enforceConnectivity: false });
  assertContiguous(r.labels, r.count);
  assert.ok(r.count <= 100 * 1.15);
  const grid = slic(rgb, W, H, { segments: 108, iterations: 0, enforceConnectivity: false });
  // 120/sqrt(100) = 12 columns, 90/sqrt(100) = 9 rows of 10x10 cells.
  assert.equal(grid.count, 108);
  assert.equal(grid.labels[0], 0);
  assert.equal(grid.labels[W * H - 1], 107);
  assert.equal(grid.labels[9 * W + 9], grid.labels[0]);
  assert.notEqual(grid.labels[10], grid.labels[0]);
});

test('convergence stop: fewer iterations run, labels identical to running all of them (both modes)', () => {
  const W = 320;
  const H = 240;
  const { rgb } = regionImage(W, H, 0);
  for (const multiscale of [true, false]) {
    const stopped = slic(rgb, W, H, { segments: 600, iterations: 60, multiscale });
    const all = slic(rgb, W, H, { segments: 600, iterations: 60, multiscale, stopWhenConverged: false });
    assert.equal(all.iterations, 60);
    assert.ok(stopped.iterations < 60, `multiscale ${multiscale}: flat regions should converge, ran ${stopped.iterations}`);
    assert.equal(stopped.count, all.count);
    assert.deepEqual(stopped.labels, all.labels);
  }
  // A textured frame does not converge in the default 5 iterations: all of them run.
  assert.equal(slic(texturedImage(160, 120, 4), 160, 120, { segments: 300 }).iterations, 5);
});

/**
 * The textbook SLIC connectivity pass as a per-pixel flood fill: components in raster order of
 * their first pixel, a component smaller than `minSize` takes the id of the pixel left of (else
 * above) its first pixel.
 */
function floodFillConnectivity(labels: Int32Array, width: number, height: number, minSize: number): Int32Array {
  const n = width * height;
  const out = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (out[start] >= 0) continue;
    const sx = start % width;
    const sy = (start - sx) / width;
    const adj = sx > 0 ? out[start - 1] : sy > 0 ? out[start - width] : -1;
    out[start] = count;
    queue[0] = start;
    let head = 0;
    let tail = 1;
    while (head < tail) {
      const p = queue[head++];
      const x = p % width;
      const y = (p - x) / width;
      for (const q of [x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1, y > 0 ? p - width : -1, y < height - 1 ? p + width : -1]) {
        if (q >= 0 && out[q] < 0 && labels[q] === labels[start]) {
          out[q] = count;
          queue[tail++] = q;
        }
      }
    }
    if (tail < minSize && adj >= 0) for (let t = 0; t < tail; t++) out[queue[t]] = adj;
    else count++;
  }
  return out;
}

test('connectivity pass equals a per-pixel flood fill, with and without merging small components', () => {
  // 120x90 with 108 segments: a 12 x 9 grid of 10 px cells, so the mean cell area S² is 100.
  const W = 120;
  const H = 90;
  for (const seed of [3, 8]) {
    const rgb = texturedImage(W, H, seed);
    const raw = slic(rgb, W, H, { segments: 108, enforceConnectivity: false });
    for (const minSizeFactor of [0, 0.25, 0.6]) {
      const r = slic(rgb, W, H, { segments: 108, minSizeFactor });
      const ref = floodFillConnectivity(raw.labels, W, H, Math.max(1, minSizeFactor * 100));
      assert.deepEqual(r.labels, ref, `seed ${seed}, minSizeFactor ${minSizeFactor}`);
      assert.equal(r.count, Math.max(...ref) + 1);
    }
  }
  // Without merging, every 4-connected piece of the raw clusters is its own superpixel.
  const pieces = slic(texturedImage(W, H, 3), W, H, { segments: 108, minSizeFactor: 0 });
  assert.equal(
    pieces.count,
    componentCount(slic(texturedImage(W, H, 3), W, H, { segments: 108, enforceConnectivity: false }).labels, W, H),
  );
});

test('superpixelMeans of a constant image is the constant; counts sum to the pixel count', () => {
  const W = 64;
  const H = 48;
  const { labels, count } = slic(texturedImage(W, H, 5), W, H, { segments: 40 });
  const n = W * H;
  const planes = new Float32Array(2 * n);
  planes.fill(3.25, 0, n);
  planes.fill(-7.5, n);
  const means = superpixelMeans(labels, count, planes, 2);
  assert.equal(means.length, 2 * count);
  for (let s = 0; s < count; s++) {
    assert.equal(means[s], 3.25);
    assert.equal(means[count + s], -7.5);
  }
  const counts = superpixelPixelCounts(labels, count);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    n,
  );
  assert.throws(() => superpixelMeans(labels, count, planes.subarray(1), 2), /planes/);
  const bad = labels.slice();
  bad[5] = count;
  assert.throws(() => superpixelPixelCounts(bad, count), /outside/);
});

test('smear ∘ superpixelMeans is the identity on superpixel-constant planes', () => {
  const W = 80;
  const H = 60;
  const { labels, count } = slic(texturedImage(W, H, 11), W, H, { segments: 60 });
  const C = 3;
  const r = rng(4);
  const values = new Float32Array(C * count);
  for (let i = 0; i < values.length; i++) values[i] = Math.fround(r() * 100 - 50);
  const planes = smear(labels, values, C, W * H);
  assert.equal(planes.length, C * W * H);
  for (let c = 0; c < C; c++) {
    for (let p = 0; p < W * H; p++) assert.equal(planes[c * W * H + p], values[c * count + labels[p]]);
  }
  const back = superpixelMeans(labels, count, planes, C);
  for (let i = 0; i < values.length; i++) {
    assert.ok(Math.abs(back[i] - values[i]) <= 1e-5 * Math.max(1, Math.abs(values[i])), `entry ${i}`);
  }
  assert.deepEqual(smear(labels, back, C), planes);
  assert.throws(() => smear(labels, values, C, W * H + 1), /n =/);
});

test('superpixelMode: majority per superpixel, ties to the lowest class', () => {
  // Superpixels: 0 → classes {1,1,0}, 1 → {2,0,2}, 2 → {0,1} (tie), 3 → {2}.
  const labels = Int32Array.from([0, 0, 0, 1, 1, 1, 2, 2, 3]);
  const classes = Uint8Array.from([1, 1, 0, 2, 0, 2, 1, 0, 2]);
  assert.deepEqual(superpixelMode(labels, 4, classes, 3), Uint8Array.from([1, 2, 0, 2]));
  assert.throws(() => superpixelMode(labels, 4, classes, 2), /class 2/);
  assert.throws(() => superpixelMode(labels, 4, classes.subarray(1), 3), /pixels/);
});

test('superpixelVpnFeatures: Y,Cb,Cr,x,y,t means match superpixelMeans of per-pixel planes', () => {
  const W = 50;
  const H = 40;
  const n = W * H;
  const rgb = texturedImage(W, H, 21);
  const { labels, count } = slic(rgb, W, H, { segments: 30 });
  const f = superpixelVpnFeatures(rgb, W, H, labels, count, 17);
  assert.equal(f.length, VPN_FEATURE_CHANNELS * count);
  const planes = new Float32Array(6 * n);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x;
      const [r, g, b] = [rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]];
      planes[p] = 0.299 * r + 0.587 * g + 0.114 * b;
      planes[n + p] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
      planes[2 * n + p] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
      planes[3 * n + p] = x;
      planes[4 * n + p] = y;
      planes[5 * n + p] = 17;
    }
  }
  const ref = superpixelMeans(labels, count, planes, 6);
  for (let i = 0; i < f.length; i++) assert.ok(Math.abs(f[i] - ref[i]) < 1e-3, `feature ${i}: ${f[i]} vs ${ref[i]}`);
  // Grey pixels have Cb = Cr = 128 and Y = the grey level.
  const grey = new Uint8Array(n * 3).fill(90);
  const g = superpixelVpnFeatures(grey, W, H, labels, count, 0);
  for (let s = 0; s < count; s++) {
    assert.ok(Math.abs(g[s] - 90) < 1e-4);
    assert.ok(Math.abs(g[count + s] - 128) < 1e-4);
    assert.ok(Math.abs(g[2 * count + s] - 128) < 1e-4);
  }
});

const davis = sharedPath('davis/JPEGImages/480p');
test('real DAVIS frame: 12000 segments, count within 15%, connected', { skip: davis.skip }, async () => {
  const { default: sharp } = await import('sharp');
  const seq = readdirSync(davis.path).sort()[0];
  const frame = readdirSync(join(davis.path, seq)).sort()[0];
  const { data, info } = await sharp(join(davis.path, seq, frame))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rgb = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const { labels, count } = slic(rgb, info.width, info.height, { segments: 12000 });
  assert.ok(Math.abs(count - 12000) <= 0.15 * 12000, `count ${count}`);
  assertContiguous(labels, count);
  assert.equal(componentCount(labels, info.width, info.height), count);
});
