import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RgbFrame, Task } from '../src/core/types.js';
import { createBilateralEngine } from '../src/engines/bilateral/index.js';
import type { Engine, FramePreparation } from '../src/engines/types.js';
import { lumaOf } from '../src/formats/color.js';
import { createNodeFramePool } from '../src/session/node-pool.js';
import type { FramePool } from '../src/session/pool.js';
import { PropagationSession } from '../src/session/session.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { sourceFromFrames } from '../src/video/memory.js';

/**
 * The session's worker pool (issue 13): frames prepared ahead in worker threads give exactly the
 * results of the engine computing everything itself, the workers really do the work, and a pool
 * that fails leaves a correct run with one warning.
 */
const scene = createScene({ seed: 5, width: 128, height: 96, frames: 10, objects: 2 });

/** A pool that counts the jobs it ran. */
function counting(pool: FramePool): FramePool & { jobs: number[] } {
  const jobs: number[] = [];
  return {
    size: pool.size,
    jobs,
    run(prep, frame, index) {
      jobs.push(index);
      return pool.run(prep, frame, index);
    },
    close: () => pool.close(),
  };
}

async function propagate(task: Task, engine: Engine, pool: FramePool | undefined, warnings: string[] = []) {
  const grey = (f: RgbFrame): RgbFrame => {
    const d = new Uint8Array(f.data.length);
    for (let i = 0; i < d.length; i += 3) d[i] = d[i + 1] = d[i + 2] = Math.round(lumaOf(f.data[i], f.data[i + 1], f.data[i + 2]));
    return { ...f, data: d };
  };
  const frames = Array.from({ length: 10 }, (_, t) => scene.render(t).rgb);
  const src = task === 'mask' ? sceneFrameSource(scene) : sourceFromFrames(frames.map(grey));
  const s = new PropagationSession(src, { task, engine, pool, onWarning: (w) => warnings.push(w) });
  if (task === 'mask') s.addKeyframe(0, { mask: scene.render(0).labels });
  else s.addKeyframe(0, { color: frames[0] });
  const out: Float32Array[] = [];
  for await (const r of s.propagate({ direction: 'forward' })) out[r.index] = r.property.data;
  await s.dispose();
  return out;
}

describe('session worker pool', () => {
  for (const task of ['mask', 'color'] as const) {
    test(`${task}: frames prepared in a worker give the results of the engine alone, and the worker did the preparing`, async () => {
      const alone = await propagate(task, createBilateralEngine(), undefined);
      const pool = counting(createNodeFramePool(1));
      try {
        const pooled = await propagate(task, createBilateralEngine(), pool);
        assert.equal(pooled.length, alone.length);
        for (let t = 0; t < alone.length; t++) assert.deepEqual(pooled[t], alone[t], `frame ${t}`);
        // Every predicted frame (1..9) was prepared in the worker, each once.
        assert.deepEqual(
          [...pool.jobs].sort((a, b) => a - b),
          [1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
      } finally {
        await pool.close();
      }
    });
  }

  test('a preparation that fails in the worker: one warning, the engine computes the values itself', async () => {
    const engine = createBilateralEngine();
    const broken: Engine = {
      ...engine,
      prepare: (): FramePreparation => ({ module: new URL('./no-such-module.js', import.meta.url).href, options: {} }),
      predict: (t, g, c) => engine.predict(t, g, c),
    };
    const warnings: string[] = [];
    const pool = createNodeFramePool(1);
    try {
      const out = await propagate('mask', broken, pool, warnings);
      const alone = await propagate('mask', createBilateralEngine(), undefined);
      for (let t = 0; t < alone.length; t++) assert.deepEqual(out[t], alone[t], `frame ${t}`);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0], /frame preparation in workers failed .*no-such-module/);
    } finally {
      await pool.close();
    }
  });

  test('a closed pool rejects jobs; a pool of 0 workers is never asked', async () => {
    const pool = createNodeFramePool(1);
    await pool.close();
    const prep = createBilateralEngine().prepare?.('mask', { width: 8, height: 8 }) as FramePreparation;
    await assert.rejects(pool.run(prep, scene.render(0).rgb, 0), /closed/);
    const none = counting(createNodeFramePool(0));
    await propagate('mask', createBilateralEngine(), none);
    assert.equal(none.jobs.length, 0);
    assert.throws(() => createNodeFramePool(-1), /workers must be an integer >= 0/);
  });
});
