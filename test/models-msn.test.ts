import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runTrain } from '../src/cli/train.js';
import { createEngine } from '../src/engines/index.js';
import { foreground, MSN_GRID, MsnScorer, selectorFeatures } from '../src/memory/msn.js';
import { type GuideCandidate, selected } from '../src/memory/policy.js';
import { Backbone } from '../src/models/backbone.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene } from '../src/synth/index.js';
import { sourceFromFrames } from '../src/video/memory.js';
import { projectRoot } from './helpers/shared.js';

/**
 * Every committed MSN selector (bundled and under training/models/) against its PyTorch fixture
 * (test/fixtures/msn/<name>.json, written by train_msn.py --fixture): the embed graph, the
 * TypeScript correlations and the head graph together must give the full PyTorch network's logits.
 */
interface SelectorFixture {
  model: string;
  candidates: number[];
  target: number[];
  reference: number[];
  logits: number[];
}

const fixtureDir = join(projectRoot, 'test', 'fixtures', 'msn');
const fixtures = readdirSync(fixtureDir).filter((f) => f.endsWith('.json') && f !== 'correlation.json');
const prefixOf = (name: string): string | undefined =>
  [join(projectRoot, 'src', 'models', 'weights', name), join(projectRoot, 'training', 'models', name)].find((p) =>
    existsSync(`${p}-embed.onnx`),
  );
const GRID = MSN_GRID.channels * MSN_GRID.height * MSN_GRID.width;

let backbone: Backbone;
before(async () => {
  backbone = await Backbone.load({ threads: 1 });
});
after(async () => {
  await backbone.release();
});

describe('MSN selectors match PyTorch (test/fixtures/msn)', () => {
  test('every committed selector has a fixture and every fixture a selector', () => {
    const models = [join(projectRoot, 'src', 'models', 'weights'), join(projectRoot, 'training', 'models')].flatMap((d) =>
      readdirSync(d)
        .filter((f) => /^msn-.*-embed\.onnx$/.test(f))
        .map((f) => f.slice(0, -'-embed.onnx'.length)),
    );
    assert.ok(models.length > 0, 'no MSN selector committed');
    assert.deepEqual(new Set(models), new Set(fixtures.map((f) => f.slice(0, -5))));
  });

  for (const file of fixtures) {
    test(file, async () => {
      const fx = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as SelectorFixture;
      const prefix = prefixOf(fx.model);
      assert.ok(prefix, `no ONNX pair for ${fx.model}`);
      // Colour selectors say so in their metadata (load refuses a task mismatch).
      const task = fx.model.startsWith('msn-color') ? 'color' : 'mask';
      const scorer = await MsnScorer.load(task, { prefix, backbone, threads: 1 });
      try {
        const n = fx.candidates.length / GRID;
        const as: Float32Array[] = [];
        for (let k = 0; k < n; k++)
          as.push((await scorer.embedFeatures(Float32Array.from(fx.candidates.slice(k * GRID, (k + 1) * GRID)))).candidate);
        const b = (await scorer.embedFeatures(Float32Array.from(fx.target))).target;
        const c = (await scorer.embedFeatures(Float32Array.from(fx.reference))).reference;
        const logits = await scorer.headLogits(as, b, c);
        assert.equal(logits.length, fx.logits.length);
        for (let i = 0; i < logits.length; i++)
          assert.ok(
            Math.abs(logits[i] - fx.logits[i]) <= 1e-4 * Math.max(1, Math.abs(fx.logits[i])),
            `logit ${i}: ${logits[i]} vs ${fx.logits[i]}`,
          );
      } finally {
        await scorer.release();
      }
    });
  }
});

describe('MSN as a guide policy', () => {
  test('a session with selected(3, msn) propagates from at most 3 scored guides, the same ones twice', async () => {
    const prefix = prefixOf('msn-mask') ?? prefixOf(fixtures[0].slice(0, -5));
    assert.ok(prefix, 'no MSN selector committed');
    const scene = createScene({ seed: 11, width: 96, height: 64, frames: 10, objects: 2 });
    const frames = Array.from({ length: 10 }, (_, t) => scene.render(t));
    const scorer = await MsnScorer.load('mask', { prefix, backbone, threads: 1 });
    const seen: Array<{ target: number; pool: number[]; scores: number[] }> = [];
    let uncachedChecked = false;
    const recording = {
      name: scorer.name,
      async score(candidates: readonly GuideCandidate[], ctx: Parameters<MsnScorer['score']>[1]) {
        const s = await scorer.score(candidates, ctx);
        seen.push({ target: ctx.target.index, pool: candidates.map((c) => c.index), scores: [...s] });
        if (ctx.target.index === 9) {
          // The last target's scores (projections and reference correlations cached by earlier
          // calls) equal the network run from scratch on the same frames.
          const embed = async (f: (typeof frames)[number]['rgb'], keep?: Float32Array) =>
            scorer.embedFeatures(await selectorFeatures(backbone, f, keep));
          const c = (await embed(frames[0].rgb, foreground(await ctx.property(candidates[0])))).reference;
          const b = (await embed(frames[9].rgb)).target;
          const as = [];
          for (const cand of candidates) as.push((await embed(frames[cand.index].rgb)).candidate);
          const logits = await scorer.headLogits(as, b, c);
          for (let n = 0; n < candidates.length; n++)
            assert.ok(Math.abs(s[n] - 1 / (1 + Math.exp(logits[2 * n] - logits[2 * n + 1]))) < 1e-6, `candidate ${n}`);
          uncachedChecked = true;
        }
        return s;
      },
    };
    const run = async () => {
      const session = new PropagationSession(sourceFromFrames(frames.map((f) => f.rgb)), {
        task: 'mask',
        engine: createEngine('bilateral'),
        guides: selected(3, recording),
      });
      session.addKeyframe(0, { mask: frames[0].labels });
      const out: Float32Array[] = [];
      for await (const r of session.propagate({ direction: 'forward' })) out[r.index] = r.property.data;
      await session.dispose();
      return out;
    };
    try {
      const first = await run();
      const firstSeen = seen.splice(0);
      assert.equal(firstSeen.length, 9);
      assert.ok(uncachedChecked);
      for (const s of firstSeen) {
        assert.deepEqual(
          s.pool,
          Array.from({ length: s.target }, (_, i) => i),
          `target ${s.target}: the pool is every earlier frame`,
        );
        for (const v of s.scores) assert.ok(v >= 0 && v <= 1, `score ${v}`);
      }
      const second = await run();
      assert.deepEqual(
        seen.map((s) => s.scores),
        firstSeen.map((s) => s.scores),
        'scores are deterministic',
      );
      for (let t = 1; t < 10; t++) assert.deepEqual(second[t], first[t]);
    } finally {
      await scorer.release();
    }
  });

  test('the colour selector scores against the whole (unmasked) key-frame and guides a colour session', async () => {
    const prefix = prefixOf('msn-color');
    assert.ok(prefix, 'no colour MSN selector committed');
    const scene = createScene({ seed: 5, width: 96, height: 64, frames: 6, objects: 2 });
    const frames = Array.from({ length: 6 }, (_, t) => scene.render(t).rgb);
    const scorer = await MsnScorer.load('color', { prefix, backbone, threads: 1 });
    let checked = 0;
    const recording = {
      name: scorer.name,
      async score(candidates: readonly GuideCandidate[], ctx: Parameters<MsnScorer['score']>[1]) {
        const s = await scorer.score(candidates, ctx);
        const embed = async (f: (typeof frames)[number]) => scorer.embedFeatures(await selectorFeatures(backbone, f));
        const c = (await embed(frames[0])).reference;
        const b = (await embed(frames[ctx.target.index])).target;
        const as = [];
        for (const cand of candidates) as.push((await embed(frames[cand.index])).candidate);
        const logits = await scorer.headLogits(as, b, c);
        for (let n = 0; n < candidates.length; n++)
          assert.ok(
            Math.abs(s[n] - 1 / (1 + Math.exp(logits[2 * n] - logits[2 * n + 1]))) < 1e-6,
            `target ${ctx.target.index}, candidate ${n}`,
          );
        checked++;
        return s;
      },
    };
    try {
      const session = new PropagationSession(sourceFromFrames(frames), {
        task: 'color',
        engine: createEngine('bilateral'),
        guides: selected(2, recording),
      });
      session.addKeyframe(0, { color: frames[0] });
      let results = 0;
      for await (const r of session.propagate({ direction: 'forward' })) {
        results++;
        for (const v of r.property.data) assert.ok(Number.isFinite(v));
      }
      await session.dispose();
      assert.equal(results, 6);
      assert.equal(checked, 5, 'one scoring per predicted frame');
    } finally {
      await scorer.release();
    }
  });

  test('vprop train msn plans the selector recipe and rejects unknown targets', async () => {
    assert.equal(await runTrain({ method: 'msn', dryRun: true, models: 'data,mask-foldA', steps: '5' }), 0);
    await assert.rejects(
      runTrain({ method: 'msn', models: 'colour' }),
      /unknown target "colour" \(data, mask-foldA, mask-foldB, mask, .*color\)/,
    );
  });

  test('a wrong model or task is refused by name', async () => {
    const prefix = prefixOf('msn-mask');
    assert.ok(prefix);
    await assert.rejects(
      MsnScorer.load('mask', { prefix: join(projectRoot, 'src', 'models', 'weights', 'stpn-color'), backbone }),
      /stpn-color-embed\.onnx/,
    );
    await assert.rejects(MsnScorer.load('color', { prefix, backbone }), /for the mask task, not color/);
  });
});
