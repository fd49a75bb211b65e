import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMaskPropEngine } from '../src/engines/maskprop/index.js';
import { cropResize, PropNet, pasteLogits, roiBox } from '../src/engines/maskprop/propnet.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';

const root = join(import.meta.dirname, '..');
const fixtures = join(root, 'test', 'fixtures', 'propnet');
const models = join(root, 'training', 'models');

interface RoiCase {
  prob: number[];
  box: [number, number, number, number] | null;
  rgb?: number[];
  crop?: number[];
  logit?: number[];
  pasted?: number[];
}
interface Fixture {
  input: { shape: number[]; data: number[] };
  logit: { shape: number[]; data: number[] };
  roi?: { height: number; width: number; margin: number; minSide: number; crop: number; outside: number; cases: RoiCase[] };
}
const load = (name: string): Fixture => JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8'));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('region, crop and paste equal the PyTorch reference (training/vprop_train/propnet.py)', () => {
  const { roi } = load('propnet-init');
  assert.ok(roi, 'the init fixture carries the region cases');
  const { width: W, height: H } = roi;
  let withBox = 0;
  for (const [i, c] of roi.cases.entries()) {
    const prob = Float32Array.from(c.prob);
    const box = roiBox(prob, W, H, roi.margin, roi.minSide);
    if (c.box === null) {
      assert.equal(box, undefined, `case ${i}: no pixel above 0.5, no region`);
      continue;
    }
    withBox++;
    assert.deepEqual(box && [box.y0, box.x0, box.y1, box.x1], c.box, `case ${i}: region`);
    if (!box || !c.rgb || !c.crop || !c.logit || !c.pasted) throw new Error(`case ${i}: incomplete fixture`);
    const planes = new Float32Array(4 * W * H);
    planes.set(Float32Array.from(c.rgb));
    planes.set(prob, 3 * W * H);
    assert.ok(maxDiff(cropResize(planes, 4, W, H, box, roi.crop), c.crop) < 1e-3, `case ${i}: crop`);
    assert.ok(maxDiff(pasteLogits(Float32Array.from(c.logit), roi.crop, box, W, H, roi.outside), c.pasted) < 1e-5, `case ${i}: paste`);
  }
  assert.ok(withBox >= 4, 'the fixture exercises regions');
});

const committed = ['propnet-init', 'propnet-foldA', 'propnet-foldB'].filter((m) => existsSync(join(models, `${m}.onnx`)));
for (const name of committed) {
  test(`${name}.onnx reproduces its PyTorch fixture`, async () => {
    const f = load(name);
    const net = await PropNet.load(join(models, name), { threads: 1 });
    try {
      const [N, , h, w] = f.input.shape;
      const out = await net.run(Float32Array.from(f.input.data), N, h, w);
      assert.ok(maxDiff(out, f.logit.data) < 1e-4, `${name}: max |ONNX − PyTorch| ${maxDiff(out, f.logit.data)}`);
      assert.ok(net.crop >= 16 && net.margin > 0 && net.minSide > 0, 'region parameters from the metadata');
    } finally {
      await net.release();
    }
  });
}

test('a file that is not a propagation network is refused, naming it', async () => {
  const other = join(models, 'vpn-mask-identity.onnx');
  await assert.rejects(PropNet.load(other), (e: Error) => e.message.includes(other) && e.message.includes('maskprop-propnet'));
  await assert.rejects(PropNet.load(join(models, 'no-such-net')), /no-such-net\.onnx/);
});

test('with the network the engine labels an object only inside its region, where it follows the network', async () => {
  // The initialised net returns about half its input's clamped logit (its head is near zero), so
  // inside the region its labels are the coarse mask's; outside it the object must be absent.
  const scene = createScene({ seed: 5, width: 160, height: 120, frames: 6, objects: 2 });
  const run = async (model: string) => {
    const s = new PropagationSession(sceneFrameSource(scene), {
      task: 'mask',
      engine: createMaskPropEngine({ appearance: false, model, threads: 1 }),
    });
    s.addKeyframe(0, { mask: scene.render(0).labels });
    const out: Uint8Array[] = [];
    for await (const r of s.propagate({ direction: 'forward' })) out[r.index] = r.labels?.data as Uint8Array;
    await s.dispose();
    return out;
  };
  const plain = await run('none');
  const withNet = await run(join(models, 'propnet-init'));
  let same = 0;
  let total = 0;
  for (let t = 1; t < scene.info.frames; t++) {
    for (let i = 0; i < plain[t].length; i++) {
      total++;
      if (plain[t][i] === withNet[t][i]) same++;
    }
  }
  assert.ok(same / total > 0.97, `labels agree on ${same}/${total} pixels`);
  // A stand-in net that always says "object" (+4) still leaves everything outside the regions absent.
  const net = await PropNet.load(join(models, 'propnet-init'), { threads: 1 });
  const W = 40;
  const H = 30;
  const coarse = new Float32Array(2 * W * H);
  for (let y = 5; y < 10; y++) for (let x = 5; x < 12; x++) coarse[y * W + x] = 1;
  (net as unknown as { run: PropNet['run'] }).run = async (_input, N, h, w) => new Float32Array(N * h * w).fill(9);
  const z = await net.refine(new Float32Array(3 * W * H), coarse, 2, W, H, 4);
  const box = roiBox(coarse.subarray(0, W * H), W, H, net.margin, net.minSide);
  if (!box) throw new Error('object 1 has a region');
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const inside: boolean = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
      assert.equal(z[y * W + x], inside ? 4 : -4, `object 1 at (${x}, ${y}): clamped net inside, absent outside`);
      assert.equal(z[W * H + y * W + x], -4, 'object 2 has no coarse mask: absent everywhere');
    }
  }
  await net.release();
});
