import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from '../src/core/errors.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import { createEngine, engineNames } from '../src/engines/index.js';
import { createMaskPropEngine } from '../src/engines/maskprop/index.js';
import type { Engine } from '../src/engines/types.js';
import { aggregate2017, evaluateSequence2017 } from '../src/metrics/davis.js';
import { type PropagationResult, PropagationSession } from '../src/session/session.js';
import { createScene, type SyntheticScene, sceneFrameSource } from '../src/synth/index.js';

async function run(engine: Engine, scene: SyntheticScene): Promise<PropagationResult[]> {
  const s = new PropagationSession(sceneFrameSource(scene), { task: 'mask', engine });
  s.addKeyframe(0, { mask: scene.render(0).labels });
  const out: PropagationResult[] = [];
  for await (const r of s.propagate({ direction: 'forward' })) out[r.index] = r;
  await s.dispose();
  return out;
}

function iou(a: Uint8Array, b: Uint8Array, id: number): number {
  let i = 0;
  let u = 0;
  for (let p = 0; p < a.length; p++) {
    const x = a[p] === id;
    const y = b[p] === id;
    if (x && y) i++;
    if (x || y) u++;
  }
  return u ? i / u : 1;
}

test('maskprop is registered with a validated option schema', () => {
  assert.ok(engineNames().includes('maskprop'));
  assert.throws(() => createEngine('maskprop', { fusion: 'average' }), OptionError);
  assert.throws(() => createEngine('maskprop', { weight: -1 }), OptionError);
  assert.throws(() => createEngine('maskprop', { redetect: 2 }), OptionError);
  assert.throws(() => createEngine('maskprop', { apperance: false }), /did you mean "appearance"/);
  assert.throws(() => createEngine('maskprop', { maxSize: 8 }), /maxSize/);
  const a = createEngine('maskprop', { appearance: 'false', weight: '1' });
  const b = createEngine('maskprop', { appearance: false, weight: 1 });
  const c = createEngine('maskprop', {});
  assert.equal(a.signature, b.signature, 'command-line strings parse to the same options');
  assert.notEqual(a.signature, c.signature);
  assert.deepEqual(c.tasks, ['mask']);
});

test('maskprop (warp-only and with appearance) beats the copy floor on a synthetic multi-object scene', async () => {
  const scene = createScene({ seed: 11, width: 160, height: 120, frames: 16, objects: 3 });
  const gts = Array.from({ length: scene.info.frames }, (_, t) => scene.render(t).labels.data);
  const jf = async (engine: Engine) => {
    const res = await run(engine, scene);
    // Probabilities: K + 1 channels summing to 1 at every pixel.
    const p = res[8].property;
    const n = p.width * p.height;
    assert.equal(p.channels, 4);
    for (let i = 0; i < n; i += 61) {
      let s = 0;
      for (let c = 0; c < p.channels; c++) s += p.data[c * n + i];
      assert.ok(Math.abs(s - 1) < 1e-4, `sum ${s}`);
    }
    return aggregate2017(
      evaluateSequence2017(
        res.map((r) => r.labels?.data as Uint8Array),
        gts,
        160,
        120,
      ),
    ).JF;
  };
  const copy = await jf(createCopyEngine());
  const warp = await jf(createMaskPropEngine({ appearance: false, model: 'none' }));
  const trainingFree = await jf(createMaskPropEngine({ model: 'none' }));
  const full = await jf(createMaskPropEngine());
  assert.ok(warp > copy + 0.1, `warp-only J&F ${warp} vs copy ${copy}`);
  assert.ok(trainingFree > copy + 0.1, `appearance J&F ${trainingFree} vs copy ${copy}`);
  assert.ok(full > copy + 0.1, `appearance + propagation network (defaults) J&F ${full} vs copy ${copy}`);
});

test('an object that leaves the frame and comes back is re-found by the appearance model, not by the warp alone', async () => {
  // Object 1 sweeps out of the image (gone from about frame 18 to 30) and returns.
  const scene = createScene({ seed: 11, width: 256, height: 192, frames: 48, objects: 1 });
  const N = scene.info.frames;
  const gts = Array.from({ length: N }, (_, t) => scene.render(t).labels.data);
  const pixels = gts.map((g) => g.reduce((a, v) => a + (v === 1 ? 1 : 0), 0));
  const gone = pixels.findIndex((v, t) => t > 0 && v === 0);
  assert.ok(gone > 0, 'the scene has an exit');
  const back = pixels.findIndex((v, t) => t > gone && v > pixels[0] / 2);
  assert.ok(back > gone, 'and a return');
  const after = (res: PropagationResult[]) => {
    const v: number[] = [];
    for (let t = back; t < N; t++) v.push(iou(res[t].labels?.data as Uint8Array, gts[t], 1));
    return v.reduce((a, x) => a + x, 0) / v.length;
  };
  // The training-free parts (model 'none'), then the defaults with the propagation network.
  const warp = after(await run(createMaskPropEngine({ appearance: false, model: 'none' }), scene));
  const full = after(await run(createMaskPropEngine({ model: 'none' }), scene));
  const withNet = after(await run(createMaskPropEngine(), scene));
  // With weight < 1 the fused logit z_warp + weight * z_app stays negative wherever the warp is
  // certain the object is absent (both logits are clamped to the same bound), so only the
  // re-detection step can bring the object back.
  const weak = after(await run(createMaskPropEngine({ weight: 0.5, model: 'none' }), scene));
  const weakNoRedetect = after(await run(createMaskPropEngine({ weight: 0.5, redetect: 0, model: 'none' }), scene));
  // Once lost, warping cannot bring the object back: its mask stays where the object was.
  assert.ok(warp < 0.2, `warp-only IoU after the return ${warp}`);
  assert.ok(full > warp + 0.25, `with appearance ${full} vs warp-only ${warp}`);
  assert.ok(withNet > warp + 0.25, `with appearance and the network (defaults) ${withNet} vs warp-only ${warp}`);
  assert.ok(weakNoRedetect < 0.2, `weight 0.5 without re-detection, IoU after the return ${weakNoRedetect}`);
  assert.ok(weak > weakNoRedetect + 0.25, `weight 0.5 with re-detection ${weak} vs without ${weakNoRedetect}`);
});
