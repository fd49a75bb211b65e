import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Task } from '../src/core/types.js';
import { buildFramePoints, type FrameFeatureConfig, valueFeatures } from '../src/engines/bilateral/frame-features.js';
import { createBilateralEngine, VPN_COLOR_SCALES, VPN_SCALES_A, VPN_SCALES_B } from '../src/engines/bilateral/index.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import type { Engine, EngineContext } from '../src/engines/types.js';
import { createVpnEngine } from '../src/engines/vpn/index.js';
import { VpnColorNet, VpnMaskNet } from '../src/engines/vpn/network.js';
import { BoundedFeatureStore } from '../src/memory/features.js';
import { aggregate2017, evaluateSequence2017 } from '../src/metrics/davis.js';
import { bundledModelPath } from '../src/models/weights.js';
import { buildLattice } from '../src/ops/lattice.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { sourceFromFrames } from '../src/video/memory.js';
import { projectRoot } from './helpers/shared.js';

/**
 * The learned VPN mask stage (src/engines/vpn): every committed model against its PyTorch
 * fixture (training/vprop_train/train_vpn.py `make_fixture`: the superpixel stage's u and the
 * per-pixel probabilities on a small frame), and the engine end to end. The untrained model
 * (`vpn-mask-identity`, train_vpn --steps 0) is BNN-Identity by construction, so the engine with
 * it must label every frame as the bilateral engine does: that checks the plumbing (filtered
 * unaries, stage-0 unaries handed on, smearing, the ONNX spatial CNN) beyond the fixtures.
 */
const fixtureDir = join(projectRoot, 'test', 'fixtures', 'vpn');
const colorFixtureDir = join(projectRoot, 'test', 'fixtures', 'vpn-color');
const identityModel = join(projectRoot, 'training', 'models', 'vpn-mask-identity');
const colorIdentityModel = join(projectRoot, 'training', 'models', 'vpn-color-identity');

const config: FrameFeatureConfig = {
  variant: 'superpixel',
  superpixels: 12000,
  scalesA: VPN_SCALES_A,
  scalesB: VPN_SCALES_B,
  colorScales: VPN_COLOR_SCALES,
  pixelStride: 4,
  colorSamples: 1,
  valueFrames: 3,
  seed: 0,
};

interface Fixture {
  model: string;
  width: number;
  height: number;
  count: number;
  t: number;
  labels: number[];
  features: number[];
  fa: number[];
  fb: number[];
  u: number[];
  probabilities: number[];
  /** Models that fuse per-frame probabilities: the fixture's (2 x height x width). */
  per_frame?: number[];
}

for (const file of readdirSync(fixtureDir).filter((f) => f.endsWith('.json'))) {
  test(`vpn model ${file.replace('.json', '')} matches its PyTorch fixture`, async () => {
    const fx = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as Fixture;
    const net = await VpnMaskNet.load(join(projectRoot, fx.model));
    const labels = Int32Array.from(fx.labels);
    const features = Float32Array.from(fx.features);
    const sp = { labels, count: fx.count, features };
    const points = buildFramePoints({ features, count: fx.count, sp, index: undefined }, fx.t, config);
    const filtered = { a: Float32Array.from(fx.fa), b: Float32Array.from(fx.fb), C: 2, points };
    const u = net.superpixelStage(filtered);
    // float32 sums over 64-128 terms and lattice sums in another order: 1e-4 relative.
    let worst = 0;
    for (let i = 0; i < u.length; i++) worst = Math.max(worst, Math.abs(u[i] - fx.u[i]) / (1e-3 + Math.abs(fx.u[i])));
    assert.ok(worst < 1e-4, `superpixel stage: worst relative difference ${worst}`);
    assert.equal(net.perFrame, fx.per_frame !== undefined);
    const probs = await net.predict(filtered, fx.width, fx.height, fx.per_frame ? Float32Array.from(fx.per_frame) : undefined);
    let worstP = 0;
    for (let i = 0; i < probs.length; i++) worstP = Math.max(worstP, Math.abs(probs[i] - fx.probabilities[i]));
    assert.ok(worstP < 1e-4, `probabilities: worst difference ${worstP}`);
    const n = fx.width * fx.height;
    for (let i = 0; i < n; i++) assert.ok(Math.abs(probs[i] + probs[n + i] - 1) < 1e-5);
    await net.release();
  });
}

const scene = createScene({ seed: 11, width: 160, height: 120, frames: 12, objects: 1 });

async function labelsOf(engine: Engine, task: Task, s = scene) {
  const session = new PropagationSession(sceneFrameSource(s), { task, engine });
  session.addKeyframe(0, { mask: s.render(0).labels });
  const out: Uint8Array[] = [];
  const probs: Float32Array[] = [];
  for await (const r of session.propagate({ direction: 'forward' })) {
    out[r.index] = r.labels!.data;
    probs[r.index] = r.property.data;
  }
  await session.dispose();
  return { labels: out, probs };
}

test('vpn with the untrained (BNN-Identity) model labels every frame as the bilateral engine', async () => {
  const vpn = await labelsOf(createVpnEngine({ model: identityModel }), 'mask');
  const bil = await labelsOf(createBilateralEngine(), 'mask');
  const n = scene.info.width * scene.info.height;
  let differ = 0;
  let stageDiff = 0;
  for (let t = 1; t < scene.info.frames; t++) {
    for (let i = 0; i < n; i++) {
      if (vpn.labels[t][i] !== bil.labels[t][i]) differ++;
      // Where no input reached a superpixel, BNN-Identity gives 0/0 and the learned stage's
      // normalisation 0.5/0.5 (both label it background).
      const unreached = bil.probs[t][i] + bil.probs[t][n + i] === 0;
      const expected = unreached ? 0.5 : bil.probs[t][n + i];
      stageDiff = Math.max(stageDiff, Math.abs(vpn.probs[t][n + i] - expected));
    }
  }
  // The normalisation's 1e-4 offset moves probabilities by < 1e-3; labels flip only at exact ties.
  assert.ok(stageDiff < 1e-3, `largest probability difference ${stageDiff}`);
  assert.ok(differ <= 5, `${differ} pixels labelled differently`);
});

test('vpn handles several objects (one pass per object, soft aggregation) and beats the copy floor', async () => {
  const multi = createScene({ seed: 5, width: 160, height: 120, frames: 12, objects: 3 });
  const gts = Array.from({ length: multi.info.frames }, (_, t) => multi.render(t).labels.data);
  const jf = async (engine: Engine) => {
    const { labels, probs } = await labelsOf(engine, 'mask', multi);
    return { jf: aggregate2017(evaluateSequence2017(labels, gts, 160, 120)).JF, probs };
  };
  const vpn = await jf(createVpnEngine({ model: identityModel }));
  const copy = await jf(createCopyEngine());
  assert.ok(vpn.jf > copy.jf + 0.1, `vpn J&F ${vpn.jf} vs copy ${copy.jf}`);
  const n = 160 * 120;
  const p = vpn.probs[6];
  assert.equal(p.length, 4 * n);
  for (let i = 0; i < n; i += 53) {
    let s = 0;
    for (let c = 0; c < 4; c++) s += p[c * n + i];
    assert.ok(Math.abs(s - 1) < 1e-4, `probabilities sum to ${s}`);
  }
});

test('vpn refuses other tasks and files that are not VPN models, naming the file', async () => {
  await assert.rejects(labelsOf(createVpnEngine({ model: identityModel }), 'hdr'), /engine "vpn" does not do the hdr task/);
  const stpn = join(projectRoot, 'training', 'models', 'stpn-mask-foldA-front.onnx');
  await assert.rejects(VpnMaskNet.load(stpn), (err: Error) => err.message.includes(stpn) && /expected 'vpn-mask'/.test(err.message));
  await assert.rejects(VpnMaskNet.load(join(projectRoot, 'no-such-model')), /no-such-model\.onnx/);
});

interface ColorFixture {
  model: string;
  width: number;
  height: number;
  t: number;
  luma: number[];
  fc: number[];
  m: number[];
  chroma: number[];
}

for (const file of readdirSync(colorFixtureDir).filter((f) => f.endsWith('.json'))) {
  test(`vpn colour model ${file.replace('.json', '')} matches its PyTorch fixture`, async () => {
    const fx = JSON.parse(readFileSync(join(colorFixtureDir, file), 'utf8')) as ColorFixture;
    const net = await VpnColorNet.load(join(projectRoot, fx.model));
    const n = fx.width * fx.height;
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = fx.luma[i];
    const frame = { width: fx.width, height: fx.height, data };
    const lattice = buildLattice(valueFeatures(frame, fx.t, undefined, VPN_COLOR_SCALES), n, null, n, 4);
    const fc = Float32Array.from(fx.fc, (v) => v * 100); // the fixture is in (a, b) / 100
    const m = net.pixelStage(fc, lattice);
    let worst = 0;
    for (let i = 0; i < m.length; i++) worst = Math.max(worst, Math.abs(m[i] - fx.m[i]));
    assert.ok(worst < 1e-4, `pixel stage: worst difference ${worst}`);
    const ab = await net.predict(fc, lattice, fx.width, fx.height);
    let worstAb = 0;
    for (let i = 0; i < ab.length; i++) worstAb = Math.max(worstAb, Math.abs(ab[i] / 100 - fx.chroma[i]));
    assert.ok(worstAb < 1e-4, `chroma: worst difference ${worstAb}`);
    await net.release();
  });
}

test('vpn colour with the untrained (BNN-Identity) model equals the bilateral engine', async () => {
  const s = createScene({ seed: 3, width: 96, height: 72, frames: 6, objects: 2 });
  const run = async (engine: Engine) => {
    const greyFrames = Array.from({ length: 6 }, (_, t) => {
      const d = s.render(t).rgb.data.slice();
      for (let i = 0; i < d.length; i += 3) d[i] = d[i + 1] = d[i + 2] = Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]);
      return { width: 96, height: 72, data: d, index: t };
    });
    const session = new PropagationSession(sourceFromFrames(greyFrames), { task: 'color', engine });
    session.addKeyframe(0, { color: s.render(0).rgb });
    const out: Float32Array[] = [];
    for await (const r of session.propagate({ direction: 'forward' })) out[r.index] = r.property.data;
    await session.dispose();
    return out;
  };
  const vpn = await run(createVpnEngine({ model: colorIdentityModel, colorSamples: 4000 }));
  const bil = await run(createBilateralEngine({ colorSamples: 4000 }));
  let worst = 0;
  for (let t = 1; t < 6; t++) for (let i = 0; i < vpn[t].length; i++) worst = Math.max(worst, Math.abs(vpn[t][i] - bil[t][i]));
  // Lab (a, b) units; float32 sums through the learned layers' 1x1 and 3x3 identities.
  assert.ok(worst < 1e-3, `largest chroma difference ${worst}`);
});

test('the bundled vpn models are the fold-A models (the ones whose fixtures are checked above)', async () => {
  for (const task of ['mask', 'color']) {
    const bundled = readFileSync(await bundledModelPath(`vpn-${task}`));
    const foldA = readFileSync(join(projectRoot, 'training', 'models', `vpn-${task}-foldA.onnx`));
    assert.ok(bundled.equals(foldA), `src/models/weights/vpn-${task}.onnx differs from training/models/vpn-${task}-foldA.onnx`);
  }
});

test('a vpn model with per-frame input passes it to the net (results move with it); none given is an error', async () => {
  const model = join(projectRoot, 'training', 'models', 'vpn-mask-pf-foldA');
  await assert.rejects(labelsOf(createVpnEngine({ model }), 'mask'), /fuses per-frame estimates; give perFrame or perFrameDir/);
  const { width, height, frames } = scene.info;
  const n = width * height;
  const gts = Array.from({ length: frames }, (_, t) => scene.render(t).labels.data);
  // Object probability 0.95 on the true object, or (inverted) everywhere else.
  const estimate = (inverted: boolean) => async (index: number) => {
    const data = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) data[n + i] = 1 - (data[i] = gts[index][i] > 0 !== inverted ? 0.05 : 0.95);
    return { width, height, channels: 2, data };
  };
  const truth = await labelsOf(createVpnEngine({ model, perFrame: estimate(false) }), 'mask');
  const inverted = await labelsOf(createVpnEngine({ model, perFrame: estimate(true) }), 'mask');
  // Frame 1 (its guides are the key-frame alone, the same in both runs): the object's probability
  // is higher on object pixels and lower elsewhere when the estimate agrees with the truth.
  let up = 0;
  let down = 0;
  for (let i = 0; i < n; i++) {
    const d = truth.probs[1][n + i] - inverted.probs[1][n + i];
    if (gts[1][i] > 0 ? d > 1e-4 : d < -1e-4) up++;
    else if (Math.abs(d) > 1e-4) down++;
  }
  // A few pixels next to the object's edge may move the other way: the spatial CNN's 5x5 reach
  // sees both sides of the edge there.
  assert.ok(up > 0.9 * n && down < 0.01 * n, `${up} pixels move toward the truth, ${down} away (of ${n})`);
});

test("vpn's second stage: with the untrained (BNN-Identity) stage 1, stage 2 sees stage 0's unaries and equals the one-stage engine", async () => {
  // Stage 1 = BNN-Identity hands on (up to the normalisation's 1e-4 offset) the stage-0 unaries, so
  // stage 2 on the guides' stage-1 unaries must give what the model gives alone on stage-0 unaries.
  const model = join(projectRoot, 'training', 'models', 'vpn-mask-foldA');
  const two = await labelsOf(createVpnEngine({ stage1: identityModel, model }), 'mask');
  const one = await labelsOf(createVpnEngine({ model }), 'mask');
  const n = scene.info.width * scene.info.height;
  let differ = 0;
  let worst = 0;
  for (let t = 1; t < scene.info.frames; t++)
    for (let i = 0; i < n; i++) {
      if (two.labels[t][i] !== one.labels[t][i]) differ++;
      worst = Math.max(worst, Math.abs(two.probs[t][n + i] - one.probs[t][n + i]));
    }
  assert.ok(worst < 2e-3, `largest probability difference ${worst}`);
  assert.ok(differ <= 5, `${differ} pixels labelled differently`);
  // A trained stage 1 moves stage 2's inputs: the results differ from the one-stage engine's.
  const trained = await labelsOf(createVpnEngine({ stage1: model, model: identityModel }), 'mask');
  let moved = 0;
  for (let t = 2; t < scene.info.frames; t++)
    for (let i = 0; i < n; i++) moved = Math.max(moved, Math.abs(trained.probs[t][n + i] - one.probs[t][n + i]));
  assert.ok(moved > 1e-3, `a trained stage 1 changed stage 2's output by at most ${moved}`);
});

test('vpn stage1: refused for colour, and a file that is not a VPN mask model is named', async () => {
  const frame = scene.render(1).rgb;
  const guide = {
    index: 0,
    frame,
    property: { width: 160, height: 120, channels: 2, data: new Float32Array(2 * 160 * 120) },
    isKeyframe: true,
    key: 'k',
  };
  const ctx = { task: 'color', features: new BoundedFeatureStore(), resultKey: 'r', direction: 1 } as unknown as EngineContext;
  await assert.rejects(
    createVpnEngine({ model: colorIdentityModel, stage1: identityModel }).predict({ index: 1, frame }, [guide], ctx),
    /stage1 \(a second stage\) is for masks/,
  );
  await assert.rejects(
    labelsOf(createVpnEngine({ model: identityModel, stage1: colorIdentityModel }), 'mask'),
    (err: Error) => err.message.includes('vpn-color-identity.onnx') && /expected 'vpn-mask'/.test(err.message),
  );
});
