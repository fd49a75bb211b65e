import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runTrain } from '../src/cli/train.js';
import type { RgbFrame, Task } from '../src/core/types.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import { createStpnEngine, softAggregate } from '../src/engines/stpn/index.js';
import type { Engine } from '../src/engines/types.js';
import { lumaOf, rgbToLab } from '../src/formats/color.js';
import { psnr } from '../src/metrics/color.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene } from '../src/synth/index.js';
import { sourceFromFrames } from '../src/video/memory.js';

/**
 * The STPN engine end to end with the bundled colour model: what the colour task promises (the
 * frame's own lightness, the key-frame's chroma carried), the ablations' wiring, and the errors a
 * user meets with a wrong model.
 */
const W = 128;
const H = 96;
const T = 8;
const scene = createScene({ seed: 23, width: W, height: H, frames: T, objects: 3 });
const colour = Array.from({ length: T }, (_, t) => scene.render(t).rgb);
const grey = (f: RgbFrame): RgbFrame => {
  const d = new Uint8Array(f.data.length);
  for (let i = 0; i < d.length; i += 3) d[i] = d[i + 1] = d[i + 2] = Math.round(lumaOf(f.data[i], f.data[i + 1], f.data[i + 2]));
  return { ...f, data: d };
};

async function propagateColour(engine: Engine, frames: RgbFrame[], key: RgbFrame, task: Task = 'color') {
  const s = new PropagationSession(sourceFromFrames(frames.map(grey)), { task, engine });
  s.addKeyframe(0, { color: key });
  const out: RgbFrame[] = [];
  for await (const r of s.propagate({ direction: 'forward' })) out[r.index] = r.rgb as RgbFrame;
  await s.dispose();
  return out;
}

const meanPsnr = (out: RgbFrame[], truth: RgbFrame[]) => {
  let s = 0;
  for (let t = 1; t < truth.length; t++) s += psnr(out[t].data, truth[t].data);
  return s / (truth.length - 1);
};

describe('stpn engine', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('colour: every frame keeps its own lightness and gets chroma that beats grey and copy on a moving scene', async () => {
    const out = await propagateColour(createStpnEngine({ flow: 'farneback' }), colour, colour[0]);
    assert.equal(out.length, T);
    for (let t = 1; t < T; t++) {
      const n = W * H;
      const L = rgbToLab(out[t].data, n);
      const Lin = rgbToLab(grey(colour[t]).data, n);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(L[i] - Lin[i]));
      // RGB is rounded to 8 bits and clipped where the chroma leaves the gamut: a few L units.
      assert.ok(worst < 6, `frame ${t}: lightness moved by ${worst.toFixed(2)}`);
    }
    const stpn = meanPsnr(out, colour);
    const greyScore = meanPsnr(colour.map(grey), colour);
    const copy = meanPsnr(await propagateColour(createCopyEngine(), colour, colour[0]), colour);
    assert.ok(stpn > greyScore + 3, `stpn ${stpn.toFixed(2)} dB vs grey ${greyScore.toFixed(2)} dB`);
    assert.ok(stpn > copy, `stpn ${stpn.toFixed(2)} dB vs copying the key-frame's chroma ${copy.toFixed(2)} dB`);
  });

  test('ablations: network=false with warp=false is the key-frame chroma itself; a static shot keeps the key-frame colour', async () => {
    const still = Array.from({ length: 4 }, () => colour[0]);
    const carried = await propagateColour(createStpnEngine({ network: false, warp: false }), still, colour[0]);
    const copied = await propagateColour(createCopyEngine(), still, colour[0]);
    for (let t = 1; t < 4; t++) assert.deepEqual(carried[t].data, copied[t].data);
    // The static fall-back (keepStatic, on by default): an unchanged frame gets the key-frame's
    // colour exactly, where the network alone would re-estimate it and drift.
    const learned = await propagateColour(createStpnEngine({ flow: 'farneback' }), still, colour[0]);
    for (let t = 1; t < 4; t++) assert.deepEqual(learned[t].data, copied[t].data, `static frame ${t}`);
    const free = await propagateColour(createStpnEngine({ flow: 'farneback', keepStatic: 0 }), still, colour[0]);
    assert.notDeepEqual(
      free[3].data,
      copied[3].data,
      'keepStatic=0 leaves the network free (the fall-back is what makes the frames equal)',
    );
  });

  test('a model for another task, or a missing one, is an error naming it', async () => {
    await assert.rejects(
      propagateColour(createStpnEngine({ model: 'stpn-hdr' }), colour.slice(0, 2), colour[0]),
      /stpn-hdr: a model for the hdr task, not color/,
    );
    await assert.rejects(
      propagateColour(createStpnEngine({ model: 'stpn-labels' }), colour.slice(0, 2), colour[0]),
      /no bundled model "stpn-labels" \(bundled: stpn-color/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'vprop-stpn-'));
    dirs.push(dir);
    const prefix = join(dir, 'broken');
    writeFileSync(`${prefix}-front.onnx`, 'not a model');
    writeFileSync(`${prefix}-back.onnx`, 'not a model');
    await assert.rejects(propagateColour(createStpnEngine({ model: prefix }), colour.slice(0, 2), colour[0]), /broken-front\.onnx/);
    assert.ok(!existsSync(join(dir, 'out')));
  });

  test('vprop train stpn: plans the STPN recipe and rejects unknown targets', async () => {
    assert.equal(await runTrain({ method: 'stpn', dryRun: true, models: 'color-foldA,hdr', steps: '5' }), 0);
    await assert.rejects(runTrain({ method: 'stpn', models: 'labels-exact' }), /unknown target "labels-exact"/);
    await assert.rejects(runTrain({ method: 'tpn' }), /unknown method "tpn" \(available: grfp, stpn, msn, vpn, propnet\)/);
  });

  test('soft aggregation: probabilities sum to one, an object certain everywhere takes every pixel', () => {
    const n = 4;
    const logits = Float32Array.from([8, 8, -8, 0, -8, -8, -8, 0]);
    const p = softAggregate(logits, 2, n);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(p[i] + p[n + i] + p[2 * n + i] - 1) < 1e-6);
    assert.ok(p[n] > 0.99 && p[n + 1] > 0.99, 'object 1 certain at pixels 0 and 1');
    assert.ok(p[2] > 0.99, 'background where both objects are absent');
    assert.ok(Math.abs(p[n + 3] - p[2 * n + 3]) < 1e-6, 'two equal objects share a pixel equally');
  });
});
