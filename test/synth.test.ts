import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { createScene, type SyntheticFrame, type SyntheticScene, sceneFrameSource, srgbOetf } from '../src/synth/index.js';
import { fbm, fbmGrid } from '../src/synth/noise.js';

function hashFrame(f: SyntheticFrame): string {
  const h = createHash('sha256');
  h.update(f.rgb.data);
  h.update(f.labels.data);
  h.update(f.classes.data);
  h.update(new Uint8Array(f.flow.buffer));
  h.update(f.occlusion);
  if (f.radiance) h.update(new Uint8Array(f.radiance.buffer));
  return h.digest('hex');
}

/** Pixel-centre counts of each object's whole outline (ignoring occlusion), inside the image. */
function coverage(scene: SyntheticScene, f: SyntheticFrame, id: number): number {
  const g = f.geometry;
  const [x0, y0, x1, y1] = g.bbox[id - 1];
  let n = 0;
  for (let y = Math.max(0, Math.ceil(y0)); y <= Math.min(scene.info.height - 1, Math.floor(y1)); y++) {
    for (let x = Math.max(0, Math.ceil(x0)); x <= Math.min(scene.info.width - 1, Math.floor(x1)); x++) if (g.covers(id, x, y)) n++;
  }
  return n;
}

function fullyInside(f: SyntheticFrame, id: number): boolean {
  const [x0, y0, x1, y1] = f.objects[id - 1].bbox;
  return x0 > 0 && y0 > 0 && x1 < f.width - 1 && y1 < f.height - 1;
}

describe('synthetic scenes', () => {
  test('same seed gives identical frames, a different seed different ones', () => {
    const opts = { width: 160, height: 120, frames: 20 };
    const a = createScene({ seed: 7, ...opts });
    const b = createScene({ seed: 7, ...opts });
    const c = createScene({ seed: 8, ...opts });
    for (const t of [0, 3, 11]) assert.equal(hashFrame(a.render(t)), hashFrame(b.render(t)));
    assert.notDeepEqual(a.render(3).rgb.data, c.render(3).rgb.data);
    assert.notDeepEqual(a.render(3).labels.data, c.render(3).labels.data);
  });

  test('render(t) out of order equals the in-order stream; the FrameSource view agrees', async () => {
    const scene = createScene({ seed: 11, width: 160, height: 120, frames: 12, hdr: true });
    const inOrder: string[] = [];
    let expect = 0;
    for await (const f of scene) {
      assert.equal(f.index, expect++);
      inOrder.push(hashFrame(f));
    }
    assert.equal(inOrder.length, 12);
    for (const t of [9, 2, 11, 0, 5, 5]) assert.equal(hashFrame(scene.render(t)), inOrder[t]);
    const src = sceneFrameSource(scene);
    assert.equal(src.info.frameCount, 12);
    const f7 = await src.frame(7);
    assert.deepEqual(f7.data, scene.render(7).rgb.data);
    let n = 0;
    for await (const f of src.frames(4, 6)) assert.equal(f.index, 4 + n++);
    assert.equal(n, 2);
    // A long scene renders any frame directly (closed-form motion, nothing streamed before it).
    const long = createScene({ seed: 11, width: 64, height: 48, frames: 10_000 });
    assert.equal(long.render(9_999).index, 9_999);
  });

  test('an exit object leaves the image completely and comes back', () => {
    for (const seed of [1, 2, 3]) {
      const scene = createScene({ seed, width: 160, height: 120, frames: 60 });
      const pixels = Array.from({ length: 60 }, (_, t) => scene.render(t).objects[0].pixels);
      const gone = pixels.flatMap((p, t) => (p === 0 ? [t] : []));
      assert.ok(pixels[0] > 0, `seed ${seed}: object 1 visible at t = 0`);
      assert.ok(gone.length >= 3, `seed ${seed}: object 1 absent for several frames (${pixels.join(',')})`);
      assert.ok(pixels[59] > 0, `seed ${seed}: object 1 back by the end`);
      // One contiguous absence: it leaves once and re-enters.
      assert.equal(gone[gone.length - 1] - gone[0] + 1, gone.length, `seed ${seed}: ${pixels.join(',')}`);
    }
  });

  test('labels follow the geometry: exact visibility, smooth areas, occlusions happen', () => {
    const scene = createScene({ seed: 3, width: 320, height: 240, frames: 30 });
    const W = 320;
    let prev: SyntheticFrame | undefined;
    let occludedPixels = 0;
    let overlappingBoxes = 0;
    let areaChecks = 0;
    for (let t = 0; t < 30; t++) {
      const f = scene.render(t);
      const L = f.labels.data;
      const cov: number[] = [];
      for (const o of f.objects) {
        const c = coverage(scene, f, o.id);
        cov.push(c);
        assert.ok(o.pixels <= c, 'visible pixels are a subset of the outline');
        if (fullyInside(f, o.id)) {
          // Pixel-centre count of a smooth outline matches its analytic area closely.
          assert.ok(Math.abs(c - o.area) / o.area < 0.02, `t ${t} object ${o.id}: coverage ${c}, area ${o.area}`);
          areaChecks++;
        }
        if (prev) {
          // Smooth in time: the outline changes little; the visible part only by what occluders sweep.
          assert.ok(Math.abs(o.area - prev.objects[o.id - 1].area) / o.area < 0.05, `t ${t} object ${o.id}: area jump`);
          if (f.geometry.order.join() === prev.geometry.order.join()) {
            assert.ok(Math.abs(o.pixels - prev.objects[o.id - 1].pixels) < 0.4 * o.area, `t ${t} object ${o.id}`);
          }
        }
      }
      // Visibility is exact: a pixel covered by object k is labelled k or an object in front of k.
      for (const o of f.objects) {
        const [x0, y0, x1, y1] = f.geometry.bbox[o.id - 1];
        for (let y = Math.max(0, Math.ceil(y0)); y <= Math.min(239, Math.floor(y1)); y++) {
          for (let x = Math.max(0, Math.ceil(x0)); x <= Math.min(W - 1, Math.floor(x1)); x++) {
            const l = L[y * W + x];
            const covers = f.geometry.covers(o.id, x, y);
            if (l === o.id) assert.ok(covers, 'labelled pixels lie inside the outline');
            else if (covers) {
              assert.ok(l !== 0 && f.objects[l - 1].depthRank < o.depthRank, `pixel (${y}, ${x}) covered by ${o.id} labelled ${l}`);
              occludedPixels++;
            }
          }
        }
      }
      // Bounding boxes of the visible labels overlap for some pair.
      const boxes = f.objects.map((o) => {
        let bx0 = W;
        let by0 = 240;
        let bx1 = -1;
        let by1 = -1;
        for (let p = 0; p < L.length; p++) {
          if (L[p] !== o.id) continue;
          const x = p % W;
          const y = (p - x) / W;
          bx0 = Math.min(bx0, x);
          bx1 = Math.max(bx1, x);
          by0 = Math.min(by0, y);
          by1 = Math.max(by1, y);
        }
        return [bx0, by0, bx1, by1];
      });
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          if (a[2] >= 0 && b[2] >= 0 && a[0] <= b[2] && b[0] <= a[2] && a[1] <= b[3] && b[1] <= a[3]) overlappingBoxes++;
        }
      }
      prev = f;
    }
    assert.ok(areaChecks > 20, `area checked on ${areaChecks} object-frames`);
    assert.ok(occludedPixels > 500, `occluded object pixels: ${occludedPixels}`);
    assert.ok(overlappingBoxes > 0, `frames x pairs with overlapping visible boxes: ${overlappingBoxes}`);
  });

  test('flow is exact: nearest warping of labels agrees off occlusions; rgb warps within a small error', () => {
    const W = 320;
    const H = 240;
    const scene = createScene({ seed: 5, width: W, height: H, frames: 60 });
    let valid = 0;
    let agree = 0;
    let occluded = 0;
    let fwdValid = 0;
    let fwdAgree = 0;
    let roundTrip = 0;
    // Histogram of |error| in 1/100 levels: percentiles without storing a million samples.
    const hist = new Float64Array(25601);
    let errSum = 0;
    let errCount = 0;
    for (const t of [1, 9, 17, 25, 33, 41]) {
      const prev = scene.render(t - 1);
      const f = scene.render(t);
      const fl = f.flow;
      const oc = f.occlusion;
      const fwd = prev.forwardFlow;
      const L = f.labels.data;
      const C = f.classes.data;
      const PL = prev.labels.data;
      const PC = prev.classes.data;
      const P = prev.rgb.data;
      const N = W * H;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const p = y * W + x;
          if (oc[p]) {
            occluded++;
            continue;
          }
          valid++;
          const sx = x + fl[N + p];
          const sy = y + fl[p];
          const q = Math.round(sy) * W + Math.round(sx);
          if (PL[q] === L[p]) agree++;
          // Forward flow of t-1 at the source pixel leads back to (about) this pixel.
          if (Math.hypot(sx + fwd[N + q] - x, sy + fwd[q] - y) < 0.1) roundTrip++;
          if (sx < 0 || sy < 0 || sx > W - 1 || sy > H - 1) continue;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const x1 = Math.min(W - 1, x0 + 1);
          const y1 = Math.min(H - 1, y0 + 1);
          // Away from label and class boundaries (both at t and at the bilinear taps at t-1).
          let interior = true;
          for (const r of [y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1]) if (PL[r] !== L[p] || PC[r] !== C[p]) interior = false;
          for (let dy = -1; dy <= 1 && interior; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              const yy = Math.min(H - 1, Math.max(0, y + dy));
              const xx = Math.min(W - 1, Math.max(0, x + dx));
              if (L[yy * W + xx] !== L[p] || C[yy * W + xx] !== C[p]) interior = false;
            }
          }
          if (!interior) continue;
          const fx = sx - x0;
          const fy = sy - y0;
          for (let c = 0; c < 3; c++) {
            const v =
              (1 - fx) * (1 - fy) * P[(y0 * W + x0) * 3 + c] +
              fx * (1 - fy) * P[(y0 * W + x1) * 3 + c] +
              (1 - fx) * fy * P[(y1 * W + x0) * 3 + c] +
              fx * fy * P[(y1 * W + x1) * 3 + c];
            const e = Math.abs(v - f.rgb.data[p * 3 + c]);
            hist[Math.round(e * 100)]++;
            errSum += e;
            errCount++;
          }
        }
      }
      // Forward direction: labels of t-1 carried to t by the forward flow.
      const foc = prev.forwardOcclusion;
      for (let p = 0; p < N; p++) {
        if (foc[p]) continue;
        fwdValid++;
        const x = p % W;
        const y = (p - x) / W;
        const q = Math.round(y + fwd[p]) * W + Math.round(x + fwd[N + p]);
        if (L[q] === PL[p]) fwdAgree++;
      }
    }
    assert.ok(agree / valid >= 0.995, `backward agreement ${agree / valid}`);
    assert.ok(fwdAgree / fwdValid >= 0.995, `forward agreement ${fwdAgree / fwdValid}`);
    assert.ok(roundTrip / valid >= 0.99, `round trip ${roundTrip / valid}`);
    assert.ok(occluded > 0 && valid / (valid + occluded) > 0.9, `occluded ${occluded}, valid ${valid}`);
    const mean = errSum / errCount;
    let p99 = 0;
    for (let seen = 0; seen < 0.99 * errCount; p99++) seen += hist[p99];
    assert.ok(errCount > 500_000, `compared ${errCount} samples`);
    assert.ok(mean < 1, `mean |warp(t-1) - t| = ${mean}`);
    assert.ok(p99 / 100 < 4, `99th percentile ${p99 / 100}`);
  });

  test('a frozen scene (speed 0) has zero flow and no occlusion', () => {
    const scene = createScene({ seed: 4, width: 96, height: 72, frames: 5, speed: 0 });
    const f = scene.render(3);
    assert.ok(
      f.flow.every((v) => v === 0),
      'zero flow',
    );
    assert.ok(
      f.occlusion.every((v) => v === 0),
      'nothing occluded',
    );
    assert.deepEqual(f.rgb.data, scene.render(0).rgb.data);
  });

  test('HDR: bright lights, LDR is the documented camera response of the radiance and clips', () => {
    const opts = { seed: 2, width: 320, height: 240, frames: 20 };
    const scene = createScene({ ...opts, hdr: true });
    const ldrScene = createScene(opts);
    for (const t of [0, 13]) {
      const f = scene.render(t);
      const rad = f.radiance;
      assert.ok(rad && rad.length === 320 * 240 * 3, 'radiance present, 3 x H x W');
      let max = 0;
      let clipped = 0;
      let above = 0;
      let mismatches = 0;
      for (let i = 0; i < rad.length; i++) {
        const v = rad[i];
        max = Math.max(max, v);
        if (f.rgb.data[i] !== Math.round(255 * srgbOetf(Math.min(1, Math.max(0, v))))) mismatches++;
        if (v > 1) {
          above++;
          if (f.rgb.data[i] === 255) clipped++;
        }
      }
      assert.equal(mismatches, 0, 'rgb = round(255 srgbOetf(clamp(radiance)))');
      assert.ok(max > 50, `max radiance ${max}`);
      assert.ok(above > 20 && clipped === above, `radiance > 1: ${above}, clipped: ${clipped}`);
      // Lights do not change the geometry: same labels as the LDR scene of the same seed.
      assert.deepEqual(f.labels.data, ldrScene.render(t).labels.data);
    }
    // Lower exposure clips less.
    const dim = createScene({ ...opts, hdr: true, exposure: 1 / 16 }).render(0);
    const count255 = (d: Uint8Array) => d.reduce((n, v) => n + (v === 255 ? 1 : 0), 0);
    assert.ok(count255(dim.rgb.data) < count255(scene.render(0).rgb.data), 'less clipping at lower exposure');
    assert.equal(ldrScene.render(0).radiance, undefined);
  });

  test('classes, grey and masks are consistent with labels', () => {
    const scene = createScene({ seed: 6, width: 160, height: 120, frames: 10, objects: 5 });
    const { info } = scene;
    assert.equal(info.classes, 2 + 4);
    assert.deepEqual(info.classNames, ['ground', 'sky', 'disc', 'box', 'star', 'blob']);
    assert.deepEqual(info.objectClasses, [2, 3, 4, 5, 2]);
    const f = scene.render(4);
    const L = f.labels.data;
    const C = f.classes.data;
    const seen = new Set<number>();
    for (let p = 0; p < L.length; p++) {
      seen.add(C[p]);
      if (L[p] > 0) assert.equal(C[p], info.objectClasses[L[p] - 1]);
      else assert.ok(C[p] === 0 || C[p] === 1, 'background is ground or sky');
      const d = f.rgb.data;
      // Full-range luma, rounded to nearest (ties exactly at .5 may go either way in floating point).
      const y = 0.299 * d[p * 3] + 0.587 * d[p * 3 + 1] + 0.114 * d[p * 3 + 2];
      assert.ok(Math.abs(f.grey.data[p] - y) <= 0.5 + 1e-9, `grey ${f.grey.data[p]} vs luma ${y}`);
    }
    assert.ok(seen.has(0) && seen.has(1) && seen.size >= 4, `classes present: ${[...seen]}`);
    assert.equal(C[0], 1, 'sky at the top-left corner');
    assert.equal(C[L.length - 1], 0, 'ground at the bottom-right corner');
    const m = f.objectMask(2);
    assert.equal(
      m.reduce((n, v) => n + v, 0),
      f.objects[1].pixels,
    );
    const noSky = createScene({ seed: 6, width: 96, height: 72, frames: 3, sky: false, objects: 2 });
    assert.deepEqual(noSky.info.classNames, ['background', 'disc', 'box']);
    const n0 = noSky.render(0);
    assert.ok(
      n0.classes.data.every((c, p) => (n0.labels.data[p] === 0 ? c === 0 : c === noSky.info.objectClasses[n0.labels.data[p] - 1])),
      'classes without sky',
    );
  });

  test('fbmGrid equals pointwise fbm', () => {
    const g = fbmGrid(37, 23, -5.5, 3.25, 0.75, 1 / 8, 1 / 4, 1234, 3, 16);
    for (const [i, j] of [
      [0, 0],
      [36, 22],
      [17, 5],
      [3, 19],
    ]) {
      const ref = fbm((-5.5 + i * 0.75) / 8, (3.25 + j * 0.75) / 4, 1234, 3, 16);
      assert.ok(Math.abs(g[j * 37 + i] - ref) < 1e-6, `grid (${i}, ${j})`);
    }
    // Periodic along x with the given period (in first-octave cells: 16 cells = 128 units).
    const wrap = fbmGrid(2, 1, 0, 0, 128, 1 / 8, 1 / 8, 99, 4, 16);
    assert.ok(Math.abs(wrap[0] - wrap[1]) < 1e-7, 'periodic along x');
  });

  test('bad options and indices are rejected with RangeError', () => {
    assert.throws(() => createScene({ seed: 1, width: 0 }), RangeError);
    assert.throws(() => createScene({ seed: 1.5 }), RangeError);
    assert.throws(() => createScene({ seed: 1, objects: 3, classes: 2 }), /classes/);
    assert.throws(() => createScene({ seed: 1, objects: 1, exitObjects: 2 }), /exitObjects/);
    assert.throws(() => createScene({ seed: 1, exposure: 0 }), /exposure/);
    const s = createScene({ seed: 1, width: 32, height: 24, frames: 3 });
    assert.throws(() => s.render(3), RangeError);
    assert.throws(() => s.render(-1), RangeError);
    assert.throws(() => s.frames(2, 1), RangeError);
    assert.equal(createScene({ seed: 1, width: 32, height: 24, objects: 0 }).render(0).objects.length, 0);
  });
});
