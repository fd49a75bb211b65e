import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IndexedFrame, Task } from '../src/core/types.js';
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import type { Engine } from '../src/engines/types.js';
import { psnr } from '../src/metrics/color.js';
import { aggregate2017, evaluateSequence2017 } from '../src/metrics/davis.js';
import { confusion, meanIoU } from '../src/metrics/labels.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { Rng } from '../src/util/rng.js';
import { sourceFromFrames } from '../src/video/memory.js';
import type { FrameSource } from '../src/video/types.js';

const scene = createScene({ seed: 11, width: 160, height: 120, frames: 16, objects: 3 });
const N = scene.info.frames;

async function run(engine: Engine, task: Task, source: FrameSource, key: Parameters<PropagationSession['addKeyframe']>[1]) {
  const s = new PropagationSession(source, { task, engine });
  s.addKeyframe(0, key);
  const out = [];
  for await (const r of s.propagate({ direction: 'forward' })) out[r.index] = r;
  await s.dispose();
  return out;
}

test('bilateral masks beat the copy floor on a synthetic scene with exact ground truth', async () => {
  const gts = Array.from({ length: N }, (_, t) => scene.render(t).labels.data);
  const jf = async (engine: Engine) => {
    const res = await run(engine, 'mask', sceneFrameSource(scene), { mask: scene.render(0).labels });
    return aggregate2017(
      evaluateSequence2017(
        res.map((r) => r.labels!.data),
        gts,
        160,
        120,
      ),
    ).JF;
  };
  const copy = await jf(createCopyEngine());
  const sp = await jf(createBilateralEngine());
  const px = await jf(createBilateralEngine({ variant: 'pixel', pixelStride: 2 }));
  assert.ok(sp > copy + 0.1, `superpixel J&F ${sp} vs copy ${copy}`);
  assert.ok(px > copy + 0.1, `pixel J&F ${px} vs copy ${copy}`);
});

test('bilateral masks output probabilities that sum to 1 with confidence in [0, 1]', async () => {
  const res = await run(createBilateralEngine(), 'mask', sceneFrameSource(scene), { mask: scene.render(0).labels });
  const r = res[5];
  const n = 160 * 120;
  for (let i = 0; i < n; i += 97) {
    let s = 0;
    for (let c = 0; c < r.property.channels; c++) s += r.property.data[c * n + i];
    assert.ok(Math.abs(s - 1) < 1e-4 || s === 0, `sum ${s}`);
    const conf = r.property.confidence![i];
    assert.ok(conf >= 0 && conf <= 1);
  }
});

test('bilateral labels beat copy in mIoU on the synthetic semantic classes', async () => {
  const C = scene.info.classes;
  const miou = async (engine: Engine) => {
    const res = await run(engine, 'labels', sceneFrameSource(scene), { labels: scene.render(0).classes });
    const conf = new Float64Array(C * C);
    for (let t = 1; t < N; t++) confusion(res[t].labels!.data, scene.render(t).classes.data, C, 255, conf);
    return meanIoU(conf, C);
  };
  const copy = await miou(createCopyEngine());
  const bil = await miou(createBilateralEngine());
  assert.ok(bil > copy + 0.05, `bilateral mIoU ${bil} vs copy ${copy}`);
});

test('bilateral colour from a grey video beats copying the key-frame chroma', async () => {
  // The engine sees only luma (a grey video) plus the colour key-frame.
  const base = sceneFrameSource(scene);
  const grey = (f: IndexedFrame): IndexedFrame => {
    const d = new Uint8Array(f.data.length);
    for (let i = 0; i < d.length; i += 3)
      d[i] = d[i + 1] = d[i + 2] = Math.round(0.299 * f.data[i] + 0.587 * f.data[i + 1] + 0.114 * f.data[i + 2]);
    return { ...f, data: d };
  };
  const greySrc: FrameSource = {
    ...base,
    frame: async (i) => grey(await base.frame(i)),
    frames: (a, b) => ({
      async *[Symbol.asyncIterator]() {
        for await (const f of base.frames(a, b)) yield grey(f);
      },
    }),
  };
  const score = async (engine: Engine) => {
    const res = await run(engine, 'color', greySrc, { color: scene.render(0).rgb });
    let s = 0;
    for (let t = 1; t < N; t++) s += psnr(res[t].rgb!.data, scene.render(t).rgb.data);
    return s / (N - 1);
  };
  const copy = await score(createCopyEngine());
  const bil = await score(createBilateralEngine({ colorSamples: 40000 }));
  assert.ok(bil > copy + 0.5, `bilateral colour ${bil} dB vs copy ${copy} dB`);
});

test('colour on a static shot with moving objects and noise: never below copying the key-frame', async () => {
  // A fixed camera (the synthetic background does not move), objects moving, ±2 grey levels of
  // noise per frame: the bilateral average smears chroma across similar-luma regions; the static
  // fall-back (keepStatic) keeps the key-frame's chroma where the frame did not change.
  const still = createScene({ seed: 31, width: 96, height: 72, frames: 10, objects: 2, speed: 0.5, appearanceDrift: 0 });
  const rng = new Rng(9);
  const noisy = Array.from({ length: 10 }, (_, t) => {
    const f = still.render(t).rgb;
    const d = f.data.map((v) => Math.min(255, Math.max(0, v + rng.int(5) - 2)));
    return { width: f.width, height: f.height, data: d };
  });
  const greyFrames = noisy.map((f) => {
    const d = new Uint8Array(f.data.length);
    for (let i = 0; i < d.length; i += 3)
      d[i] = d[i + 1] = d[i + 2] = Math.round(0.299 * f.data[i] + 0.587 * f.data[i + 1] + 0.114 * f.data[i + 2]);
    return { width: f.width, height: f.height, data: d };
  });
  const score = async (engine: Engine) => {
    const res = await run(engine, 'color', sourceFromFrames(greyFrames), { color: noisy[0] });
    let s = 0;
    for (let t = 1; t < 10; t++) s += psnr(res[t].rgb!.data, noisy[t].data);
    return s / 9;
  };
  const copy = await score(createCopyEngine());
  const kept = await score(createBilateralEngine({ colorSamples: 20000 }));
  const smeared = await score(createBilateralEngine({ colorSamples: 20000, keepStatic: 0 }));
  assert.ok(kept >= copy, `bilateral ${kept.toFixed(2)} dB vs copy ${copy.toFixed(2)} dB`);
  assert.ok(kept > smeared, `with the fall-back ${kept.toFixed(2)} dB, without ${smeared.toFixed(2)} dB`);
});

test('colour sampling is deterministic for a seed', async () => {
  const res1 = await run(createBilateralEngine({ colorSamples: 5000, seed: 3 }), 'color', sceneFrameSource(scene), {
    color: scene.render(0).rgb,
  });
  const res2 = await run(createBilateralEngine({ colorSamples: 5000, seed: 3 }), 'color', sceneFrameSource(scene), {
    color: scene.render(0).rgb,
  });
  assert.deepEqual(res1[4].property.data, res2[4].property.data);
});

test('bilateral HDR: log radiance propagated along the LDR video beats copying the key-frame', async () => {
  const { logRadianceRmse } = await import('../src/metrics/hdr.js');
  const hdr = createScene({ seed: 12, width: 120, height: 90, frames: 10, objects: 2, hdr: true });
  const score = async (engine: Engine) => {
    const k = hdr.render(0);
    const res = await run(engine, 'hdr', sceneFrameSource(hdr), { radiance: { width: 120, height: 90, data: k.radiance! } });
    let s = 0;
    for (let t = 1; t < 10; t++) s += logRadianceRmse(res[t].radiance!.data, hdr.render(t).radiance!);
    return s / 9;
  };
  const copy = await score(createCopyEngine());
  const bil = await score(createBilateralEngine({ colorSamples: 20000 }));
  assert.ok(bil < copy * 0.9, `bilateral log-radiance RMSE ${bil} vs copy ${copy}`);
});
