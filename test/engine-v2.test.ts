/**
 * The Engine v2 seam: an engine defined entirely in this file (registered, options validated,
 * `fit` used, memory-selection guides) runs through the session; key-frame modes, object ids,
 * removal, annotation sizes, empty key-frames, the GRFP protocol without key-frames, and the
 * result cache under guide policies.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OptionError } from '../src/core/errors.js';
import type { LabelImage, PropertyMap, RgbFrame } from '../src/core/types.js';
import { stgruStep } from '../src/engines/flowgru/cell.js';
import { simulatePerFrame } from '../src/engines/flowgru/simulate.js';
import { createEngine, registerEngine } from '../src/engines/index.js';
import type { Engine, Guide } from '../src/engines/types.js';
import { BoundedFeatureStore, decodeSpill, encodeSpill, type FeatureSpill } from '../src/memory/features.js';
import { mergeWeighted } from '../src/memory/merge.js';
import { chooseGuides, type GuideCandidate, type GuideScorer, policySignature, previous, selected } from '../src/memory/policy.js';
import { jaccard } from '../src/metrics/davis.js';
import { bundledModelPath, loadModel } from '../src/models/index.js';
import { openVideo } from '../src/session/open.js';
import { type PropagationResult, PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { labelsToProbabilities } from '../src/tasks/maps.js';
import { sourceFromRenderer } from '../src/video/memory.js';

async function collect(it: AsyncIterable<PropagationResult>): Promise<Map<number, PropagationResult>> {
  const out = new Map<number, PropagationResult>();
  for await (const r of it) out.set(r.index, r);
  return out;
}

// ------------------------------------------------------------------------------------------------
// A video whose content repeats with period 3: the best guide of frame t is frame t - 3.

const W = 24;
const H = 16;
const PERIOD = 3;
const patternFrame = (t: number): RgbFrame => {
  const p = t % PERIOD;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const inside = x >= 4 + 6 * p && x < 10 + 6 * p && y >= 3 && y < 12;
      const v = inside ? 220 : 30 + 20 * p;
      data.set([v, inside ? 40 : v, 255 - v], (y * W + x) * 3);
    }
  return { width: W, height: H, data };
};
const patternMask = (t: number): LabelImage => {
  const p = t % PERIOD;
  const data = new Uint8Array(W * H);
  for (let y = 3; y < 12; y++) for (let x = 4 + 6 * p; x < 10 + 6 * p; x++) data[y * W + x] = 1;
  return { width: W, height: H, data };
};

/** Scores candidates by how alike their frames are to the target (mean absolute difference), via the feature store. */
const similarity: GuideScorer = {
  name: 'test-similarity',
  async score(candidates, ctx) {
    const target = ctx.target.frame.data;
    const out = new Float32Array(candidates.length);
    for (let k = 0; k < candidates.length; k++) {
      const f = (await ctx.frame(candidates[k].index)).data;
      let d = 0;
      for (let i = 0; i < f.length; i++) d += Math.abs(f[i] - target[i]);
      out[k] = 1 / (1 + d / f.length);
    }
    return out;
  },
};

const fits: number[][] = [];
const predictions: Array<{ target: number; guides: number[] }> = [];

/**
 * The test engine: an appearance model fitted to the key-frames (per-object mean colour) blended
 * with the best guide's map. `blend` = weight of the guide's map; `k` = guides selected.
 */
registerEngine({
  name: 'test-appearance',
  description: 'test: guide map blended with a colour model fitted on the key-frames',
  tasks: ['mask'],
  options: {
    blend: { type: 'number', min: 0, max: 1, default: 1, description: "weight of the guide's map" },
    k: { type: 'number', integer: true, min: 1, max: 4, default: 1, description: 'guides selected' },
  },
  create({ values, signature }): Engine {
    const blend = values.blend as number;
    let means: Float32Array | undefined;
    return {
      name: 'test-appearance',
      tasks: ['mask'],
      guides: selected(values.k as number, similarity),
      signature,
      needsKeyframes: true,
      async fit(keyframes, ctx) {
        fits.push(keyframes.map((k) => k.index));
        const C = ctx.layout.channels;
        const sum = new Float64Array(C * 3);
        const count = new Float64Array(C);
        for (const k of keyframes) {
          const n = k.frame.width * k.frame.height;
          for (let i = 0; i < n; i++) {
            let best = 0;
            for (let c = 1; c < C; c++) if (k.property.data[c * n + i] > k.property.data[best * n + i]) best = c;
            for (let j = 0; j < 3; j++) sum[best * 3 + j] += k.frame.data[i * 3 + j];
            count[best]++;
          }
        }
        means = Float32Array.from(sum, (v, i) => v / Math.max(1, count[Math.floor(i / 3)]));
      },
      async predict(target, guides, ctx): Promise<PropertyMap> {
        if (!means) throw new Error('test-appearance: predict before fit');
        predictions.push({ target: target.index, guides: guides.map((g) => g.index) });
        const C = ctx.layout.channels;
        const n = target.frame.width * target.frame.height;
        const data = new Float32Array(C * n);
        const g = guides[0].property;
        for (let i = 0; i < n; i++) {
          let best = 0;
          let bestD = Number.POSITIVE_INFINITY;
          for (let c = 0; c < C; c++) {
            let d = 0;
            for (let j = 0; j < 3; j++) d += Math.abs(target.frame.data[i * 3 + j] - means[c * 3 + j]);
            if (d < bestD) {
              bestD = d;
              best = c;
            }
          }
          for (let c = 0; c < C; c++) data[c * n + i] = blend * g.data[c * n + i] + (1 - blend) * (c === best ? 1 : 0);
        }
        return { width: target.frame.width, height: target.frame.height, channels: C, data };
      },
    };
  },
});

describe('an engine defined in a test file', () => {
  test('options are validated up front and name the option', () => {
    assert.throws(
      () => createEngine('test-appearance', { blend: 2 }),
      (err: unknown) => err instanceof OptionError && err.file === 'blend' && /must be a number in \[0, 1\], got 2/.test(err.message),
    );
    assert.throws(() => createEngine('test-appearance', { blnd: 0.5 }), /has no option "blnd" \(did you mean "blend"\?\)/);
    assert.throws(() => createEngine('test-appearance', { k: '1.5' }), /option k must be an integer in \[1, 4\], got "1.5"/);
    // Strings convert (the command line's --option key=value); the signature follows the effective values.
    const a = createEngine('test-appearance', { blend: '0.25' });
    const b = createEngine('test-appearance', { blend: 0.25 });
    const c = createEngine('test-appearance', {});
    assert.equal(a.signature, b.signature);
    assert.notEqual(a.signature, c.signature);
    assert.equal(c.signature, createEngine('test-appearance', { blend: 1 }).signature, 'defaults are part of the signature');
  });

  test('runs through the session with selected guides and a fit on the key-frames', async () => {
    fits.length = 0;
    predictions.length = 0;
    const N = 13;
    const s = await openVideo(sourceFromRenderer(N, patternFrame), { task: 'mask', engine: 'test-appearance' });
    s.addKeyframe(0, { mask: patternMask(0) });
    const out = await collect(s.propagate({ direction: 'forward' }));
    assert.deepEqual(fits, [[0]], 'fit once, on the key-frame');
    for (const p of predictions) {
      assert.equal(p.guides.length, 1);
      // The scorer finds the frame with the same content whenever the pool has one.
      if (p.target >= PERIOD) assert.equal(p.guides[0] % PERIOD, p.target % PERIOD, `frame ${p.target} guided by ${p.guides[0]}`);
    }
    for (let t = PERIOD; t < N; t++) {
      assert.deepEqual(out.get(t)?.labels?.data, out.get(t - PERIOD)?.labels?.data, `frame ${t} copies its look-alike ${t - PERIOD}`);
    }
    // Not what a previous-frame guide would give: frame 3 (pattern 0) equals the key-frame's mask.
    assert.deepEqual(out.get(3)?.labels?.data, patternMask(0).data);

    // A new key-frame refits; a repeated propagate does not.
    s.addKeyframe(7, { mask: patternMask(7) });
    await collect(s.propagate({ direction: 'forward' }));
    await collect(s.propagate({ direction: 'forward' }));
    assert.deepEqual(fits, [[0], [0, 7]]);
    // With both key-frames the appearance model alone (blend 0) labels frames of patterns 0 and 1 exactly.
    await s.dispose();

    predictions.length = 0;
    const s2 = await openVideo(sourceFromRenderer(N, patternFrame), { task: 'mask', engine: 'test-appearance', engineOptions: { k: 2 } });
    s2.addKeyframe(0, { mask: patternMask(0) });
    await collect(s2.propagate({ direction: 'forward' }));
    // Top-2 ensemble: two predictions per frame (one guide each) once the pool has two candidates.
    assert.equal(predictions.filter((p) => p.target === 1).length, 1);
    for (let t = 2; t < N; t++) assert.equal(predictions.filter((p) => p.target === t).length, 2, `frame ${t}`);
    await s2.dispose();
  });

  test("selected(k, withPrevious) always adds the pass's newest frame, at its own score, once", async () => {
    const pool: GuideCandidate[] = [0, 1, 2, 3, 4].map((i) => ({ index: i, isKeyframe: i === 0, order: i }));
    const fixed = (scores: number[]): GuideScorer => ({ name: 'fixed', score: async () => Float32Array.from(scores) });
    const ctx = {
      target: { index: 5, frame: patternFrame(5) },
      frame: async (i: number) => patternFrame(i),
      property: async () => patternFrame(0) as never,
    };
    const sets = async (scores: number[], k: number, withPrevious: boolean, ensemble = true) =>
      (await chooseGuides(selected(k, fixed(scores), { withPrevious, ensemble }), pool, 0, ctx)).map((g) => ({
        guides: g.guides.map((c) => c.index),
        weight: Math.round(g.weight * 100) / 100,
      }));
    // Frame 4 (the newest) ranked last: without the option only the top 2, with it a third member.
    assert.deepEqual(await sets([0.9, 0.8, 0.3, 0.2, 0.1], 2, false), [
      { guides: [0], weight: 0.9 },
      { guides: [1], weight: 0.8 },
    ]);
    assert.deepEqual(await sets([0.9, 0.8, 0.3, 0.2, 0.1], 2, true), [
      { guides: [0], weight: 0.9 },
      { guides: [1], weight: 0.8 },
      { guides: [4], weight: 0.1 },
    ]);
    // Already among the top k: not added twice.
    assert.deepEqual(await sets([0.9, 0.1, 0.3, 0.2, 0.8], 2, true), [
      { guides: [0], weight: 0.9 },
      { guides: [4], weight: 0.8 },
    ]);
    // Joint mode: one prediction with the extra guide appended.
    assert.deepEqual(await sets([0.9, 0.8, 0.3, 0.2, 0.1], 1, true, false), [{ guides: [0, 4], weight: 1 }]);
    assert.notEqual(policySignature(selected(1, fixed([]), { withPrevious: true })), policySignature(selected(1, fixed([]))));
  });

  test('a side-scoped policy (memory selection) invalidates every later pass when a key-frame is added', async () => {
    const counted: number[] = [];
    const base = createEngine('test-appearance', {});
    const counting = (policy: Engine['guides']): Engine => ({
      ...base,
      guides: policy,
      predict: async (t, g, c) => {
        counted.push(t.index);
        return base.predict(t, g, c);
      },
      fit: base.fit,
    });
    for (const [policy, expectedAfter] of [
      [selected(1, similarity), [6, 7, 8, 9, 11, 12]],
      [previous(1), [6, 7, 8, 9]],
    ] as const) {
      const s = new PropagationSession(sourceFromRenderer(13, patternFrame), {
        task: 'mask',
        engine: { ...counting(policy), fit: undefined },
      });
      s.addKeyframe(0, { mask: patternMask(0) });
      s.addKeyframe(10, { mask: patternMask(10) });
      await base.fit?.(
        [0, 10].map((i) => ({
          index: i,
          frame: patternFrame(i),
          property: labelsToProbabilities(patternMask(i), 2),
          isKeyframe: true,
          key: '',
        })),
        { task: 'mask', layout: { channels: 2, objectIds: [1] }, features: new BoundedFeatureStore() },
      );
      await collect(s.propagate({ direction: 'forward' }));
      counted.length = 0;
      s.addKeyframe(5, { mask: patternMask(5) });
      await collect(s.propagate({ direction: 'forward' }));
      assert.deepEqual(counted, expectedAfter, `policy ${policy.kind}`);
      await s.dispose();
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Key-frame modes, object ids, removal, sizes, empty key-frames

describe('objects annotated one at a time', () => {
  // Four objects, 16 frames; each object is visible where it is annotated.
  const scene = createScene({ seed: 11, width: 160, height: 120, frames: 16, objects: 4, exitObjects: 0, speed: 0.6 });
  const frames = Array.from({ length: 16 }, (_, t) => scene.render(t));
  const only = (t: number, id: number): Uint8Array => frames[t].labels.data.map((v) => (v === id ? 1 : 0));
  const annotated: Array<[number, number]> = [
    [0, 1],
    [5, 2],
    [8, 3],
    [13, 4],
  ];

  test('every object keeps propagating after the key-frames that add the others (Cutie / SAM 2 semantics)', async () => {
    for (const [t, id] of annotated) assert.ok(frames[t].objects[id - 1].pixels > 50, `object ${id} is visible on frame ${t}`);
    const s = await openVideo(sceneFrameSource(scene), { task: 'mask', engine: 'bilateral' });
    for (const [t, id] of annotated) s.addKeyframe(t, { objects: { [id]: only(t, id) } });
    assert.deepEqual(s.objectIds, [1, 2, 3, 4]);
    const out = await collect(s.propagate());
    assert.equal(out.size, 16);
    for (const t of [14, 15]) {
      const r = out.get(t) as PropagationResult;
      assert.deepEqual(
        r.objects?.filter((o) => o.present).map((o) => o.id),
        [1, 2, 3, 4],
        `frame ${t}: all four objects`,
      );
      for (let id = 1; id <= 4; id++) {
        const iou = jaccard(
          r.labels!.data.map((v) => (v === id ? 1 : 0)),
          only(t, id),
          160,
          120,
        );
        assert.ok(iou > 0.5, `frame ${t} object ${id}: IoU ${iou.toFixed(3)}`);
      }
    }
    // Ids new on a key-frame start there: object 2 is nowhere before frame 5, object 4 before 13.
    for (let t = 0; t < 5; t++) assert.equal(out.get(t)?.objects?.find((o) => o.id === 2)?.pixels, 0, `frame ${t}`);
    for (let t = 0; t < 13; t++) assert.equal(out.get(t)?.objects?.find((o) => o.id === 4)?.pixels, 0, `frame ${t}`);
    // Key-frames return their annotated objects exactly.
    for (const [t, id] of annotated) {
      const r = out.get(t) as PropagationResult;
      assert.ok(r.isKeyframe);
      for (let i = 0; i < 160 * 120; i++) if (only(t, id)[i]) assert.equal(r.labels!.data[i], id);
    }
    await s.dispose();
  });

  test("the same masks as whole-frame key-frames ('replace') keep only the last key-frame's object", async () => {
    const s = await openVideo(sceneFrameSource(scene), { task: 'mask', engine: 'bilateral' });
    for (const [t, id] of annotated) s.addKeyframe(t, { mask: { width: 160, height: 120, data: only(t, id).map((v) => v * id) } });
    const out = await collect(s.propagate({ direction: 'forward', from: 14 }));
    assert.deepEqual(
      out
        .get(15)
        ?.objects?.filter((o) => o.present)
        .map((o) => o.id),
      [4],
    );
    await s.dispose();
  });

  test('removeObject ends an object from a frame on', async () => {
    const s = await openVideo(sceneFrameSource(scene), { task: 'mask', engine: 'copy' });
    s.addKeyframe(0, { mask: frames[0].labels });
    s.removeObject(2, 6);
    assert.throws(() => s.removeObject(9, 1), /object 9 is not annotated/);
    const out = await collect(s.propagate({ direction: 'forward' }));
    assert.ok((out.get(5)?.objects?.find((o) => o.id === 2)?.pixels ?? 0) > 0);
    for (let t = 6; t < 16; t++) assert.equal(out.get(t)?.objects?.find((o) => o.id === 2)?.pixels, 0, `frame ${t}`);
    assert.ok((out.get(10)?.objects?.find((o) => o.id === 1)?.pixels ?? 0) > 0, 'other objects stay');
    await s.dispose();
  });
});

describe('annotation checks', () => {
  const grey = (): RgbFrame => ({ width: 200, height: 100, data: new Uint8Array(200 * 100 * 3).fill(90) });
  const mask = (w: number, h: number, id = 1): LabelImage => {
    const data = new Uint8Array(w * h);
    data.fill(id, 0, (w * h) >> 1);
    return { width: w, height: h, data };
  };

  test('a mask within 1 % of the frame size is resized with a warning naming it; a larger difference is an error', async () => {
    const warnings: string[] = [];
    const s = await openVideo(sourceFromRenderer(5, grey), { task: 'mask', engine: 'copy', onWarning: (m) => warnings.push(m) });
    s.addKeyframe(0, { mask: mask(199, 100) }, { source: 'masks/00000.png' });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^masks\/00000\.png: mask is 199x100, resized \(nearest\) to the video's 200x100/);
    assert.throws(
      () => s.addKeyframe(1, { mask: mask(190, 100) }, { source: 'masks/00001.png' }),
      /masks\/00001\.png: is 190x100 but the video is 200x100 \(more than 1 % off\)/,
    );
    const out = await collect(s.propagate({ direction: 'forward', to: 1 }));
    assert.equal(out.get(1)?.labels?.width, 200);
    await s.dispose();
  });

  test('a key-frame with no object is an error unless empty key-frames are allowed', async () => {
    const s = await openVideo(sourceFromRenderer(3, grey), { task: 'mask', engine: 'copy' });
    assert.throws(() => s.addKeyframe(0, { mask: mask(200, 100, 0) }), /key-frame 0: holds no object/);
    await s.dispose();
    const ok = await openVideo(sourceFromRenderer(3, grey), { task: 'mask', engine: 'copy', allowEmpty: true });
    ok.addKeyframe(0, { mask: mask(200, 100, 0) });
    const out = await collect(ok.propagate());
    assert.equal(out.size, 3);
    await ok.dispose();
  });
});

// ------------------------------------------------------------------------------------------------
// GRFP's protocol (no key-frame) through the session equals the recurrence run by hand

describe('per-frame input without key-frames (GRFP protocol)', () => {
  const scene = createScene({ seed: 5, width: 64, height: 48, frames: 9, objects: 3, classes: 6 });
  const C = scene.info.classes;
  const gt = Array.from({ length: 9 }, (_, t) => scene.render(t).classes);
  const perFrame = async (t: number) => simulatePerFrame(gt[t], C, t, { seed: 2 });

  test('window 5 and the unbounded recurrence match stgruStep run by hand', async () => {
    const model = await loadModel(await bundledModelPath('grfp-labels-c6'));
    const rgb = (t: number) => scene.render(t).rgb;
    const byHand = async (from: number, to: number) => {
      let p = (await perFrame(from)).data;
      for (let u = from + 1; u <= to; u++) {
        p = (await stgruStep(model, { frame: rgb(u - 1), probabilities: p }, { frame: rgb(u), perFrame: (await perFrame(u)).data }, C))
          .probabilities;
      }
      return p;
    };
    for (const window of [5, undefined]) {
      const s = await openVideo(sceneFrameSource(scene), {
        task: 'labels',
        engine: 'flowgru',
        engineOptions: { perFrame, model: 'grfp-labels-c6', window },
      });
      assert.deepEqual(s.keyframeIndices(), []);
      const out = await collect(s.propagate({ direction: 'forward' }));
      assert.equal(out.size, 9);
      for (const t of [0, 3, 8]) {
        const expected = await byHand(window ? Math.max(0, t - (window - 1)) : 0, t);
        const got = out.get(t)?.property.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
        assert.ok(worst < 1e-5, `window ${window ?? 'none'}, frame ${t}: max |Δ| ${worst}`);
      }
      await s.dispose();
    }
    await model.release();
  });

  test('an engine that needs key-frames refuses to run without one', async () => {
    const s = await openVideo(sceneFrameSource(scene), { task: 'labels', engine: 'bilateral' });
    await assert.rejects(collect(s.propagate()), /engine bilateral needs at least one key-frame/);
    await s.dispose();
  });
});

// ------------------------------------------------------------------------------------------------
// The n-way merge and the feature store

describe('mergeWeighted and the feature store', () => {
  const map = (values: number[], confidence?: number): PropertyMap => ({
    width: 1,
    height: 1,
    channels: values.length,
    data: Float32Array.from(values),
    confidence: confidence === undefined ? undefined : Float32Array.of(confidence),
  });

  test('n-way: weights × confidence; channels a map does not know come from the others', () => {
    const m = mergeWeighted([
      { map: map([1, 0, 0]), weight: 1 },
      { map: map([0, 1, 0]), weight: 1 },
      { map: map([0, 0, 1]), weight: 2 },
    ]);
    assert.deepEqual(
      [...m.data].map((v) => +v.toFixed(6)),
      [0.25, 0.25, 0.5],
    );
    const c = mergeWeighted([
      { map: map([1, 0], 0), weight: 10 },
      { map: map([0, 1], 1), weight: 1 },
    ]);
    assert.deepEqual([...c.data], [0, 1], 'a map without confidence at a pixel does not count there');
    // Partial knowledge: the second map knows object 2 only; object 1 comes from the first alone.
    const p = mergeWeighted([
      { map: map([0.2, 0.8, 0]), weight: 1 },
      { map: map([0.4, 0, 0.6]), weight: 1, known: Uint8Array.of(1, 0, 1) },
    ]);
    assert.deepEqual(
      [...p.data].map((v) => +v.toFixed(6)),
      [0, 0.8 / 1.1, 0.3 / 1.1].map((v) => +v.toFixed(6)),
    );
  });

  test('eviction keeps the byte and frame budgets; values kept on the spill come back equal, others are dropped', () => {
    const files = new Map<string, Uint8Array>();
    const spill: FeatureSpill = {
      write: (i, k, b) => files.set(`${i}/${k}`, b),
      read: (i, k) => files.get(`${i}/${k}`),
      clear: () => files.clear(),
    };
    const store = new BoundedFeatureStore({ maxBytes: 10_000, spill });
    const value = (i: number) => ({ labels: Int32Array.from({ length: 500 }, (_, k) => k * i), count: i, name: `f${i}` });
    for (let i = 0; i < 20; i++) {
      store.set(i, 'sp', value(i), { spill: true });
      store.set(i, 'scratch', new Float32Array(100));
    }
    assert.ok(store.bytes <= 10_000 + 2_600, `held ${store.bytes} bytes`);
    assert.ok(files.size >= 15, 'older frames were spilled');
    assert.ok(![...files.keys()].some((k) => k.endsWith('/scratch')), 'values not marked for the spill are dropped');
    assert.deepEqual(store.get(0, 'sp'), value(0));
    assert.equal(store.get(0, 'scratch'), undefined);
    const windowed = new BoundedFeatureStore({ maxFrames: 4 });
    for (let i = 0; i < 10; i++) windowed.set(i, 'x', new Float32Array(10));
    assert.equal(windowed.get(5, 'x'), undefined, 'only the 4 most recent frames stay');
    assert.ok(windowed.get(9, 'x'));
    // Unspillable values (class instances) are dropped, not spilled.
    assert.equal(encodeSpill(new Map([[1, 2]])), undefined);
    const round = decodeSpill(encodeSpill({ a: Float32Array.of(1.5, -2), b: { c: Uint8Array.of(7) }, n: 3 }) as Uint8Array);
    assert.deepEqual(round, { a: Float32Array.of(1.5, -2), b: { c: Uint8Array.of(7) }, n: 3 });
  });
});

export type { Guide };
