import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AbortError } from '../src/core/errors.js';
import type { LabelImage, PropertyMap, RgbFrame } from '../src/core/types.js';
import { createCopyEngine } from '../src/engines/copy/index.js';
import type { Engine } from '../src/engines/types.js';
import { mergeDirections } from '../src/memory/merge.js';
import { openVideo } from '../src/session/open.js';
import { PropagationSession } from '../src/session/session.js';
import { sourceFromRenderer } from '../src/video/memory.js';

const W = 8;
const H = 6;
const N = 20;
const grey = (i: number): RgbFrame => ({ width: W, height: H, data: new Uint8Array(W * H * 3).fill(i * 10) });
const labels = (id: number): LabelImage => ({ width: W, height: H, data: new Uint8Array(W * H).fill(id) });

/** Records every predict call, returns the nearest guide's map (like copy) so results are checkable. */
function countingEngine(): Engine & { calls: number[] } {
  const copy = createCopyEngine();
  const calls: number[] = [];
  return {
    ...copy,
    name: 'counting',
    calls,
    async predict(target, guides, ctx) {
      calls.push(target.index);
      return copy.predict(target, guides, ctx);
    },
  };
}

test('forward, backward and both cover exactly the frames each direction reaches, in order', async () => {
  const s = new PropagationSession(sourceFromRenderer(N, grey), { task: 'mask', engine: createCopyEngine() });
  s.addKeyframe(5, { mask: labels(1) });
  s.addKeyframe(12, { mask: labels(2) });
  const fwd = [];
  for await (const r of s.propagate({ direction: 'forward' })) fwd.push(r.index);
  assert.deepEqual(fwd, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  const bwd = [];
  for await (const r of s.propagate({ direction: 'backward' })) bwd.push(r.index);
  assert.deepEqual(bwd, [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
  const both = [];
  for await (const r of s.propagate({ direction: 'both', from: 3, to: 15 })) both.push(r.index);
  assert.deepEqual(both, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  await s.dispose();
});

test('both: copy from the nearer key-frame wins; key-frames are returned exactly', async () => {
  const s = new PropagationSession(sourceFromRenderer(N, grey), { task: 'mask', engine: createCopyEngine() });
  s.addKeyframe(2, { mask: labels(1) });
  s.addKeyframe(10, { mask: labels(2) });
  const got = new Map<number, number>();
  for await (const r of s.propagate()) got.set(r.index, r.labels!.data[0]);
  assert.equal(got.get(0), 1); // before the first key-frame: backward from 2
  assert.equal(got.get(2), 1);
  assert.equal(got.get(5), 1); // distance 3 vs 5
  assert.equal(got.get(7), 2); // distance 5 vs 3
  assert.equal(got.get(10), 2);
  assert.equal(got.get(19), 2);
  await s.dispose();
});

test('mergeDirections weights by temporal distance and by confidence', () => {
  const mk = (v: number, conf?: number): PropertyMap => ({
    width: 1,
    height: 1,
    channels: 1,
    data: new Float32Array([v]),
    confidence: conf === undefined ? undefined : new Float32Array([conf]),
  });
  assert.ok(Math.abs(mergeDirections(mk(0), mk(1), 0.75, 0.25).data[0] - 0.25) < 1e-6);
  // a confident backward prediction outweighs an unconfident forward one despite distance
  const m = mergeDirections(mk(0, 0.1), mk(1, 1), 0.6, 0.4);
  assert.ok(m.data[0] > 0.8);
});

test('adding a key-frame recomputes only the frames between its neighbours', async () => {
  const engine = countingEngine();
  const s = new PropagationSession(sourceFromRenderer(N, grey), { task: 'mask', engine });
  s.addKeyframe(0, { mask: labels(1) });
  s.addKeyframe(19, { mask: labels(1) });
  for await (const _ of s.propagate()) void _;
  assert.equal(engine.calls.length, 2 * 18); // both passes over frames 1..18
  engine.calls.length = 0;
  for await (const _ of s.propagate()) void _;
  assert.equal(engine.calls.length, 0, 'a repeated propagate is served from the store');
  s.addKeyframe(15, { mask: labels(1) });
  for await (const _ of s.propagate()) void _;
  // Only the passes that start at the new key-frame are new: backward over 14..1 and forward
  // over 16..18. The forward pass from 0 and the backward pass from 19 do not depend on it.
  assert.equal(engine.calls.length, 14 + 3);
  assert.deepEqual(engine.calls, [...Array.from({ length: 14 }, (_, i) => 14 - i), 16, 17, 18]);
  // A new object changes every map's layout: everything is recomputed.
  engine.calls.length = 0;
  s.addKeyframe(15, { mask: labels(2) });
  for await (const _ of s.propagate()) void _;
  assert.equal(engine.calls.length, 2 * 14 + 2 * 3);
  await s.dispose();
});

test('objects first annotated on a later key-frame widen every map; channels are compact, ids kept', async () => {
  const s = new PropagationSession(sourceFromRenderer(N, grey), { task: 'mask', engine: createCopyEngine() });
  s.addKeyframe(0, { mask: labels(1) });
  s.addKeyframe(10, { mask: labels(200) });
  assert.deepEqual(s.objectIds, [1, 200]);
  const seen = new Set<number>();
  for await (const r of s.propagate()) {
    assert.equal(r.property.channels, 3, 'ids {1, 200} make 3 channels');
    for (const v of r.labels!.data) seen.add(v);
    assert.deepEqual(
      r.objects?.map((o) => o.id),
      [1, 200],
    );
    const present = r.objects!.filter((o) => o.present).map((o) => o.id);
    assert.deepEqual(present, [r.labels!.data[0]], `frame ${r.index}: presence follows the labels`);
  }
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    [1, 200],
    'results carry the object ids, not channel numbers',
  );
  await s.dispose();
});

test('AbortSignal stops propagation with AbortError', async () => {
  const ctrl = new AbortController();
  const s = new PropagationSession(sourceFromRenderer(N, grey), { task: 'mask', engine: createCopyEngine(), signal: ctrl.signal });
  s.addKeyframe(0, { mask: labels(1) });
  let seen = 0;
  await assert.rejects(async () => {
    for await (const _ of s.propagate({ direction: 'forward' })) {
      seen += 1;
      if (seen === 3) ctrl.abort();
    }
  }, AbortError);
  assert.equal(seen, 3);
  await s.dispose();
});

test('progress events count frames and give an ETA', async () => {
  const events: number[] = [];
  const s = new PropagationSession(sourceFromRenderer(N, grey), {
    task: 'mask',
    engine: createCopyEngine(),
    onProgress: (p) => {
      events.push(p.done);
      assert.ok(p.total >= p.done);
      assert.ok(p.etaMs !== undefined && p.etaMs >= 0);
    },
  });
  s.addKeyframe(0, { mask: labels(1) });
  for await (const _ of s.propagate({ direction: 'forward' })) void _;
  assert.deepEqual(
    events,
    Array.from({ length: N - 1 }, (_, i) => i + 1),
  );
  await s.dispose();
});

test('a persistent cache directory lets an interrupted run resume without recomputation', async () => {
  // Interrupt by failing the engine at frame 8, then resume with a fresh session on the same dir.
  const dir2 = mkdtempSync(join(tmpdir(), 'vprop-resume-'));
  try {
    const failing = countingEngine();
    const inner = failing.predict;
    failing.predict = async (t, g, c) => {
      if (t.index === 8) throw new Error('simulated crash');
      return inner(t, g, c);
    };
    const s1 = await openVideo(sourceFromRenderer(N, grey), { task: 'mask', engine: failing, cacheDir: dir2, memoryFrames: 2 });
    s1.addKeyframe(0, { mask: labels(1) });
    await assert.rejects(async () => {
      for await (const _ of s1.propagate({ direction: 'forward' })) void _;
    }, /simulated crash/);
    await s1.dispose(false);
    assert.ok(existsSync(dir2) && readdirSync(join(dir2, 'forward')).length >= 7, 'finished frames were kept on disk');
    const e2 = countingEngine();
    const s2 = await openVideo(sourceFromRenderer(N, grey), { task: 'mask', engine: { ...e2, name: 'counting' }, cacheDir: dir2 });
    s2.addKeyframe(0, { mask: labels(1) });
    const out = [];
    for await (const r of s2.propagate({ direction: 'forward' })) out.push(r.index);
    assert.equal(out.length, N);
    assert.deepEqual(
      e2.calls,
      Array.from({ length: N - 8 }, (_, i) => i + 8),
      'only frames 8.. are recomputed',
    );
    await s2.dispose();
  } finally {
    rmSync(dir2, { recursive: true, force: true });
  }
});
