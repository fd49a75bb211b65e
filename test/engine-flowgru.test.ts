import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runFlow } from '../src/cli/flow.js';
import { runTrain } from '../src/cli/train.js';
import type { PropertyMap } from '../src/core/types.js';
import { createFlowGruEngine, perFrameFromFolder } from '../src/engines/flowgru/index.js';
import { davisSimSeed, simulatePerFrame } from '../src/engines/flowgru/simulate.js';
import { readFlo } from '../src/formats/flo.js';
import { encodeNpy } from '../src/formats/npy.js';
import { encodeRgbPng, writeLabelPng } from '../src/formats/png.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { jaccard } from '../src/metrics/davis.js';
import { confusion, meanIoU } from '../src/metrics/labels.js';
import { resizeNearestU8 } from '../src/ops/resize.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { labelsToProbabilities, probabilitiesToLabels } from '../src/tasks/maps.js';
import { openDavis } from '../src/video/davis.js';
import { sharedPath } from './helpers/shared.js';

const W = 96;
const H = 72;
const T = 8;
const scene = createScene({ seed: 77, width: W, height: H, frames: T, objects: 3, classes: 6 });
const C = scene.info.classes;
const gtClasses = Array.from({ length: T }, (_, t) => scene.render(t).classes);
const perFrame = async (index: number): Promise<PropertyMap> => simulatePerFrame(gtClasses[index], C, index, { seed: 5 });

async function run(
  engineOpts: Parameters<typeof createFlowGruEngine>[0],
  direction: 'forward' | 'backward' | 'both',
  keys: number[] = [0],
) {
  const session = new PropagationSession(sceneFrameSource(scene), { task: 'labels', engine: createFlowGruEngine(engineOpts) });
  for (const k of keys) session.addKeyframe(k, { labels: gtClasses[k] });
  const out = new Map<number, PropertyMap>();
  for await (const r of session.propagate({ direction })) out.set(r.index, r.property);
  await session.dispose();
  return out;
}

function mIoUOf(maps: Map<number, PropertyMap> | PropertyMap[], frames: number[]): number {
  const conf = new Float64Array(C * C);
  for (const t of frames) {
    const p = maps instanceof Map ? maps.get(t) : maps[t];
    confusion(probabilitiesToLabels(p as PropertyMap).data, gtClasses[t].data, C, 255, conf);
  }
  return meanIoU(conf, C);
}

describe('flowgru engine', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('forward from a key-frame: probability maps that beat the per-frame input', async () => {
    const out = await run({ perFrame, flow: 'dis' }, 'forward');
    assert.equal(out.size, T);
    const frames = Array.from({ length: T - 1 }, (_, i) => i + 1);
    for (const t of frames) {
      const p = out.get(t) as PropertyMap;
      assert.equal(p.channels, C);
      const n = W * H;
      for (const i of [0, 1000, n - 1]) {
        let s = 0;
        for (let c = 0; c < C; c++) s += p.data[c * n + i];
        assert.ok(Math.abs(s - 1) < 1e-4);
      }
    }
    const input = await Promise.all(gtClasses.map((_, t) => perFrame(t)));
    const fused = mIoUOf(out, frames);
    const raw = mIoUOf(input, frames);
    assert.ok(fused > raw + 0.02, `flowgru mIoU ${fused.toFixed(3)} vs per-frame ${raw.toFixed(3)}`);
  });

  test('backward and both directions, the exact 6-class model, Farnebäck flow and the gate confidence', async () => {
    const back = await run({ perFrame, model: 'grfp-labels-c6', flow: 'farneback' }, 'backward', [T - 1]);
    assert.equal(back.size, T);
    const both = await run({ perFrame, confidence: 'gate' }, 'both', [0, T - 1]);
    assert.equal(both.size, T);
    const mid = both.get(3) as PropertyMap;
    assert.ok(mid.confidence, 'gate confidence is attached');
    for (const v of mid.confidence as Float32Array) assert.ok(v >= 0 && v <= 1 + 1e-6);
  });

  test('window mode (GRFP protocol) asks for window - 1 guides and runs', async () => {
    const engine = createFlowGruEngine({ perFrame, window: 3 });
    assert.deepEqual(engine.guides, { kind: 'previous', n: 2, keyframe: false });
    const out = await run({ perFrame, window: 3 }, 'forward');
    assert.equal(out.size, T);
  });

  test('perFrameFromFolder reads label PNGs as soft one-hot maps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vprop-flowgru-'));
    dirs.push(dir);
    for (let t = 0; t < T; t++) await writeLabelPng(join(dir, `${String(t).padStart(5, '0')}.png`), gtClasses[t]);
    const fn = await perFrameFromFolder(dir, C, { confidence: 0.8 });
    const p = await fn(2, scene.render(2).rgb);
    assert.equal(p.channels, C);
    const n = W * H;
    const k = gtClasses[2].data[10];
    assert.ok(Math.abs(p.data[k * n + 10] - 0.8) < 1e-6);
    assert.ok(Math.abs(p.data[((k + 1) % C) * n + 10] - 0.2 / (C - 1)) < 1e-6);
    await assert.rejects(fn(99, scene.render(2).rgb), /no per-frame estimate for frame 99/);
    const out = await run({ perFrameDir: dir }, 'forward');
    assert.equal(out.size, T);
  });

  test('perFrameFromFolder reads .npy probabilities, scores (softmax) and label maps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vprop-flowgru-npy-'));
    dirs.push(dir);
    const n = W * H;
    const probs = (await perFrame(3)).data;
    writeFileSync(join(dir, '00003.npy'), encodeNpy(probs, [C, H, W]));
    // Scores whose softmax is `probs`: log-probabilities plus a per-pixel offset.
    const scores = probs.map((v, i) => Math.log(v) + 5 + (i % n) / n);
    writeFileSync(join(dir, '00004.npy'), encodeNpy(scores, [C, H, W]));
    const labels = new Float32Array(gtClasses[5].data);
    writeFileSync(join(dir, '00005.npy'), encodeNpy(labels, [H, W]));
    const fn = await perFrameFromFolder(dir, C);
    const p3 = await fn(3, scene.render(3).rgb);
    assert.equal(p3.channels, C);
    assert.ok(
      p3.data.every((v, i) => Math.abs(v - probs[i]) < 1e-7),
      'probabilities are read as they are',
    );
    const p4 = await fn(4, scene.render(4).rgb);
    let worst = 0;
    for (let i = 0; i < C * n; i++) worst = Math.max(worst, Math.abs(p4.data[i] - probs[i]));
    assert.ok(worst < 1e-5, `scores go through a softmax (max |Δp| ${worst})`);
    // A float (H, W) array is not a label map.
    await assert.rejects(
      fn(5, scene.render(5).rgb),
      /00005\.npy: expected a \(C, H, W\) array .* or an \(H, W\) integer label map, got <f4/,
    );
    const forced = await perFrameFromFolder(dir, C, { values: 'logits' });
    const q3 = await forced(3, scene.render(3).rgb);
    assert.ok(Math.abs(q3.data[0] - probs[0]) > 1e-3, "values: 'logits' applies the softmax even to probabilities");
  });

  test('clear errors', async () => {
    assert.throws(() => createFlowGruEngine({ perFrame, window: 1 }), /window must be an integer >= 2/);
    assert.throws(() => createFlowGruEngine({ perFrame, flow: 'bogus' as never }), /unknown flow backend/);
    const small = createScene({ seed: 1, width: 32, height: 24, frames: 3, objects: 1, classes: 3 });
    const bare = createFlowGruEngine({});
    assert.deepEqual(bare.tasks, ['mask', 'labels']);
    const f0 = small.render(0);
    const g = { index: 0, frame: f0.rgb, property: labelsToProbabilities(f0.classes, 3), isKeyframe: true, key: 'kf0' };
    const ctx = {
      task: 'labels' as const,
      layout: { channels: 3 },
      features: new BoundedFeatureStore(),
      resultKey: 'r1',
      direction: 1 as const,
    };
    await assert.rejects(bare.predict({ index: 1, frame: small.render(1).rgb }, [g], ctx), /needs per-frame estimates/);
    const session = new PropagationSession(sceneFrameSource(small), {
      task: 'labels',
      engine: createFlowGruEngine({
        perFrame: async (t) => simulatePerFrame(small.render(t).classes, 3, t, { seed: 1 }),
        model: 'grfp-labels-c6',
      }),
    });
    session.addKeyframe(0, { labels: small.render(0).classes });
    await assert.rejects(
      (async () => {
        for await (const _ of session.propagate({ direction: 'forward' })) {
          // drain
        }
      })(),
      /exact STGRU for 6 classes, but the maps have 3 channels/,
    );
    await session.dispose();
  });

  test('runFlow writes a .flo and a colour PNG close to the exact flow; runTrain validates its options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vprop-flowcli-'));
    dirs.push(dir);
    const a = scene.render(2);
    const b = scene.render(3);
    writeFileSync(join(dir, 'a.png'), encodeRgbPng(a.rgb));
    writeFileSync(join(dir, 'b.png'), encodeRgbPng(b.rgb));
    // --backward: from B to A on B's grid, i.e. frame 3's exact backward flow.
    assert.equal(await runFlow(join(dir, 'a.png'), join(dir, 'b.png'), { out: join(dir, 'f.flo'), backward: true, backend: 'dis' }), 0);
    assert.equal(await runTrain({ dryRun: true, models: 'labels-exact', steps: '5' }), 0);
    assert.ok(existsSync(join(dir, 'f.png')));
    const f = await readFlo(join(dir, 'f.flo'));
    assert.equal(f.width, W);
    let err = 0;
    let cnt = 0;
    const n = W * H;
    for (let i = 0; i < n; i++) {
      if (b.occlusion[i]) continue;
      err += Math.hypot(f.flow[i] - b.flow[i], f.flow[n + i] - b.flow[n + i]);
      cnt++;
    }
    assert.ok(err / cnt < 1.5, `mean endpoint error ${(err / cnt).toFixed(2)} px`);
    await assert.rejects(runTrain({ models: 'bogus' }), /unknown target "bogus"/);
    await assert.rejects(runFlow(join(dir, 'a.png'), join(dir, 'missing.png'), { out: join(dir, 'g.flo') }), /missing\.png/);
  });

  const davis = sharedPath('davis');
  test('DAVIS blackswan (8 frames at 240x135): the bundled mask model beats its per-frame input', { skip: davis.skip }, async () => {
    const d = await openDavis(davis.path, 'blackswan');
    const { width: W0, height: H0 } = d.frames.info;
    const gts = await Promise.all(Array.from({ length: 8 }, (_, t) => d.annotations.read(t)));
    const small = (t: number, w: number, h: number) => ({ width: w, height: h, data: resizeNearestU8(gts[t].data, W0, H0, w, h) });
    const perFrameDavis = async (t: number, frame: { width: number; height: number }) =>
      simulatePerFrame(small(t, frame.width, frame.height), 2, t, { seed: davisSimSeed('blackswan') });
    const session = new PropagationSession(d.frames, {
      task: 'mask',
      engine: createFlowGruEngine({ perFrame: perFrameDavis }),
      maxInternalSize: 240,
    });
    session.addKeyframe(0, { mask: gts[0] });
    let jFused = 0;
    let jInput = 0;
    for await (const r of session.propagate({ direction: 'forward', to: 7 })) {
      if (r.index === 0) continue;
      const gt = gts[r.index].data;
      jFused += jaccard(r.labels?.data as Uint8Array, gt, W0, H0);
      const x = await perFrameDavis(r.index, { width: session.internalWidth, height: session.internalHeight });
      const xs = probabilitiesToLabels(x).data;
      jInput += jaccard(resizeNearestU8(xs, x.width, x.height, W0, H0), gt, W0, H0);
    }
    await session.dispose();
    assert.ok(jFused > jInput + 0.05 * 7, `J sum fused ${jFused.toFixed(3)} vs per-frame ${jInput.toFixed(3)} over 7 frames`);
  });
});
