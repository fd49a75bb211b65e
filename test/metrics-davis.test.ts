import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { decode } from 'fast-png';
import { InputError } from '../src/core/errors.js';
import {
  aggregate2016,
  aggregate2017,
  boundaryF,
  boundaryRadius,
  decayBinIds,
  dilate,
  diskOffsets,
  evaluateSequence2016,
  evaluateSequence2017,
  formatDavisTable,
  jaccard,
  numpySum,
  type ObjectResult,
  objectCount2017,
  seg2bmap,
  sequenceStats,
} from '../src/metrics/davis.js';
import { rng } from './helpers/random.js';
import { sharedPath } from './helpers/shared.js';

const W = 854;
const H = 480;

function rect(w: number, h: number, y0: number, y1: number, x0: number, x1: number, value = 1): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = Math.max(0, y0); y <= Math.min(h - 1, y1); y++) {
    for (let x = Math.max(0, x0); x <= Math.min(w - 1, x1); x++) m[y * w + x] = value;
  }
  return m;
}

/** The §9b GT box: rows 100..299 x cols 200..499 (200 x 300) in 480 x 854, shifted right by s. */
const box = (s = 0) => rect(W, H, 100, 299, 200 + s, 499 + s);

const count = (m: Uint8Array) => m.reduce((a, v) => a + (v ? 1 : 0), 0);

function bruteDilate(b: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const offs = diskOffsets(r);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!b[y * w + x]) continue;
      for (const [dy, dx] of offs) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) out[yy * w + xx] = 1;
      }
    }
  }
  return out;
}

/** F-measure written directly from the recipe with the brute-force dilation. */
function bruteF(pred: Uint8Array, gt: Uint8Array, w: number, h: number, r: number): { F: number; P: number; R: number } {
  const fb = seg2bmap(pred, w, h);
  const gb = seg2bmap(gt, w, h);
  const fd = bruteDilate(fb, w, h, r);
  const gd = bruteDilate(gb, w, h, r);
  let nf = 0;
  let ng = 0;
  let fm = 0;
  let gm = 0;
  for (let i = 0; i < w * h; i++) {
    nf += fb[i];
    ng += gb[i];
    fm += fb[i] & gd[i];
    gm += gb[i] & fd[i];
  }
  let P: number;
  let R: number;
  if (nf === 0 && ng > 0) [P, R] = [1, 0];
  else if (nf > 0 && ng === 0) [P, R] = [0, 1];
  else if (nf === 0 && ng === 0) [P, R] = [1, 1];
  else [P, R] = [fm / nf, gm / ng];
  return { F: P + R === 0 ? 0 : (2 * P * R) / (P + R), P, R };
}

describe('seg2bmap (§9b anchors)', () => {
  test('200x300 box has exactly 1000 boundary pixels on rows 99/299 and cols 199/499', () => {
    const b = seg2bmap(box(), W, H);
    assert.equal(count(b), 1000);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const expected = ((y === 99 || y === 299) && x >= 199 && x <= 499) || ((x === 199 || x === 499) && y >= 99 && y <= 299);
        assert.equal(b[y * W + x], expected ? 1 : 0, `pixel (${y}, ${x})`);
      }
    }
  });

  test('left half has 480 boundary pixels (vertical edge only), all-ones has 0, a 4x4 square 16', () => {
    const left = seg2bmap(rect(W, H, 0, H - 1, 0, 426), W, H);
    assert.equal(count(left), 480);
    for (let y = 0; y < H; y++) assert.equal(left[y * W + 426], 1);
    assert.equal(count(seg2bmap(new Uint8Array(W * H).fill(1), W, H)), 0);
    assert.equal(count(seg2bmap(rect(W, H, 10, 13, 20, 23), W, H)), 16);
  });

  test('equals a literal transcription of the recipe (e/s/se XOR, row/column overwrites) incl. 1-pixel-wide images', () => {
    const rand = rng(21);
    const literal = (m: Uint8Array, w: number, h: number) => {
      const at = (y: number, x: number) => (y < h && x < w && m[y * w + x] !== 0 ? 1 : 0);
      const b = new Uint8Array(w * h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          b[y * w + x] = at(y, x) ^ at(y, x + 1) || at(y, x) ^ at(y + 1, x) || at(y, x) ^ at(y + 1, x + 1) ? 1 : 0;
      for (let x = 0; x < w; x++) b[(h - 1) * w + x] = at(h - 1, x) ^ at(h - 1, x + 1);
      for (let y = 0; y < h; y++) b[y * w + w - 1] = at(y, w - 1) ^ at(y + 1, w - 1);
      b[h * w - 1] = 0;
      return b;
    };
    for (const [w, h] of [
      [1, 1],
      [1, 7],
      [7, 1],
      [2, 2],
      [13, 9],
      [40, 3],
    ]) {
      for (let t = 0; t < 20; t++) {
        const m = Uint8Array.from({ length: w * h }, () => (rand() < 0.4 ? Math.floor(rand() * 255) + 1 : 0));
        assert.deepEqual(seg2bmap(m, w, h), literal(m, w, h), `${w}x${h}`);
      }
    }
  });

  test('any non-zero value is foreground; last row/column rules and corner zero', () => {
    // 3x3 mask with only the bottom-right pixel set (value 255).
    const m = new Uint8Array(9);
    m[8] = 255;
    const b = seg2bmap(m, 3, 3);
    // (1,1): SE differs; (1,2): last column compares with S only; (2,1): last row compares with E only; (2,2) forced 0.
    assert.deepEqual(Array.from(b), [0, 0, 0, 0, 1, 1, 0, 1, 0]);
  });
});

describe('disk and dilation', () => {
  test('disk(8) has 197 offsets within a 17x17 support, disk(0) is the centre', () => {
    const d = diskOffsets(8);
    assert.equal(d.length, 197);
    for (const [dy, dx] of d) assert.ok(dy * dy + dx * dx <= 64 && Math.abs(dy) <= 8 && Math.abs(dx) <= 8);
    assert.deepEqual(diskOffsets(0), [[0, 0]]);
    assert.equal(diskOffsets(1).length, 5);
    assert.equal(diskOffsets(2).length, 13);
  });

  test('radius: 8 px at 854x480, integer pixel tolerance passes through, fractional pixels rejected', () => {
    assert.equal(boundaryRadius(854, 480), 8);
    assert.equal(boundaryRadius(854, 480, 3), 3);
    assert.throws(() => boundaryRadius(854, 480, 2.5), RangeError);
  });

  test('prefix-sum dilation equals brute-force disk dilation on random masks', () => {
    const rand = rng(7);
    for (const [w, h] of [
      [37, 23],
      [5, 41],
      [64, 64],
    ]) {
      for (const r of [0, 1, 2, 3, 5, 8]) {
        for (const density of [0.002, 0.02, 0.2]) {
          const b = new Uint8Array(w * h);
          for (let i = 0; i < b.length; i++) b[i] = rand() < density ? 1 : 0;
          assert.deepEqual(dilate(b, w, h, r), bruteDilate(b, w, h, r), `w=${w} h=${h} r=${r} density=${density}`);
        }
      }
    }
  });

  test('dilation at 854x480, radius 8, equals brute force', () => {
    const rand = rng(11);
    const b = new Uint8Array(W * H);
    for (let i = 0; i < b.length; i++) b[i] = rand() < 0.003 ? 1 : 0;
    b[0] = 1;
    b[W * H - 1] = 1;
    assert.deepEqual(dilate(b, W, H, 8), bruteDilate(b, W, H, 8));
  });
});

describe('J and F (§9b anchors)', () => {
  const cases: Array<[number, number, number]> = [
    // shift, J, F
    [0, 1, 1],
    [5, 0.967213, 1.0],
    [8, 0.948052, 1.0],
    [9, 0.941748, 0.616],
    [12, 0.923077, 0.61],
  ];
  for (const [s, j, f] of cases) {
    test(`box shifted right by ${s} px: J ${j}, F ${f}`, () => {
      const gt = box();
      const pred = box(s);
      assert.ok(Math.abs(jaccard(pred, gt, W, H) - j) < 1e-6, `J = ${jaccard(pred, gt, W, H)}`);
      assert.equal(jaccard(pred, gt, W, H), (300 - s) / (300 + s));
      const b = boundaryF(pred, gt, W, H);
      // ANCHORS gives F to 3 decimals; exact values below were cross-checked against a NumPy/SciPy
      // port of the reference f_boundary.py.
      assert.ok(Math.abs(b.F - f) < 5e-4, `F = ${b.F}`);
    });
  }

  test('s = 9: P = R (vertical edges 9 px apart no longer match); exact values', () => {
    const b = boundaryF(box(9), box(), W, H);
    assert.equal(b.P, b.R);
    assert.equal(b.P, 616 / 1000);
    assert.equal(boundaryF(box(12), box(), W, H).F, 610 / 1000);
  });

  test('empty vs empty → J 1, F 1; empty prediction vs non-empty GT → J 0, F 0 (P 1, R 0)', () => {
    const empty = new Uint8Array(W * H);
    assert.equal(jaccard(empty, empty, W, H), 1);
    assert.deepEqual(boundaryF(empty, empty, W, H), { F: 1, P: 1, R: 1 });
    assert.equal(jaccard(empty, box(), W, H), 0);
    assert.deepEqual(boundaryF(empty, box(), W, H), { F: 0, P: 1, R: 0 });
    assert.deepEqual(boundaryF(box(), empty, W, H), { F: 0, P: 0, R: 1 });
  });

  test('an all-ones mask has no boundary: vs empty GT gives P = R = 1 although J = 0', () => {
    const ones = new Uint8Array(W * H).fill(1);
    const empty = new Uint8Array(W * H);
    assert.equal(jaccard(ones, empty, W, H), 0);
    assert.deepEqual(boundaryF(ones, empty, W, H), { F: 1, P: 1, R: 1 });
  });

  test('boundaryF equals the brute-force recipe on random blob masks', () => {
    const rand = rng(3);
    for (let trial = 0; trial < 30; trial++) {
      const w = 30 + Math.floor(rand() * 50);
      const h = 20 + Math.floor(rand() * 40);
      const blob = () => {
        const m = new Uint8Array(w * h);
        const k = 1 + Math.floor(rand() * 4);
        for (let i = 0; i < k; i++) {
          const cy = rand() * h;
          const cx = rand() * w;
          const ry = 1 + rand() * h * 0.4;
          const rx = 1 + rand() * w * 0.4;
          for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1) m[y * w + x] = 1;
        }
        return m;
      };
      const a = blob();
      const b = blob();
      for (const th of [0.008, 0.03, 2]) {
        const r = boundaryRadius(w, h, th);
        assert.deepEqual(boundaryF(a, b, w, h, th), bruteF(a, b, w, h, r), `trial ${trial} th ${th}`);
      }
    }
  });

  test('size mismatch is rejected', () => {
    assert.throws(() => jaccard(new Uint8Array(10), new Uint8Array(12), 5, 2), RangeError);
    assert.throws(() => boundaryF(new Uint8Array(10), new Uint8Array(10), 4, 2), RangeError);
  });
});

describe('statistics (§1.3, §9b)', () => {
  test('10 values 0.9 → 0.5: M 0.7, recall 0.9, decay 0.311111, ids [0,2,5,7,9]', () => {
    const v = Array.from({ length: 10 }, (_, i) => 0.9 + (i * (0.5 - 0.9)) / 9);
    const s = sequenceStats(v);
    assert.ok(Math.abs(s.mean - 0.7) < 1e-12);
    assert.equal(s.recall, 0.9);
    assert.ok(Math.abs(s.decay - 0.311111) < 1e-6, `decay ${s.decay}`);
    assert.deepEqual(decayBinIds(10), [0, 2, 5, 7, 9]);
  });

  test('bin ids for L = 48 and L = 23 (ties round up through the +1e-10)', () => {
    assert.deepEqual(decayBinIds(48), [0, 12, 24, 35, 47]);
    assert.deepEqual(decayBinIds(23), [0, 6, 11, 17, 22]);
    assert.deepEqual(decayBinIds(3), [0, 1, 1, 2, 2]); // linspace(1,3,5) = 1, 1.5, 2, 2.5, 3; ties go up
    assert.deepEqual(decayBinIds(1), [0, 0, 0, 0, 0]);
  });

  test('uint8 quirk only changes ids above 255', () => {
    assert.deepEqual(decayBinIds(100, { davisUint8Quirk: true }), decayBinIds(100));
    assert.deepEqual(decayBinIds(301), [0, 75, 150, 225, 300]);
    assert.deepEqual(decayBinIds(301, { davisUint8Quirk: true }), [0, 75, 150, 225, 300 - 256]);
    // With the quirk the last bin [225 .. 44] is empty → decay NaN, as the reference gives.
    const v = Array.from({ length: 301 }, () => 0.8);
    assert.ok(Number.isNaN(sequenceStats(v, { davisUint8Quirk: true }).decay));
    assert.equal(sequenceStats(v).decay, 0);
  });

  test('NaN values: nanmean for M and D, counted as failures in the recall', () => {
    const s = sequenceStats([1, Number.NaN, 0.2, 0.6]);
    assert.ok(Math.abs(s.mean - 0.6) < 1e-12);
    assert.equal(s.recall, 0.5);
    // L = 4: ids round(linspace(1,4,5) + 1e-10) − 1 = [0,1,2,2,3] (1.75→2, 2.5→3, 3.25→3):
    // bin0 = v[0..1] → nanmean 1, bin3 = v[2..3] → 0.4.
    assert.deepEqual(decayBinIds(4), [0, 1, 2, 2, 3]);
    assert.ok(Math.abs(s.decay - (1 - 0.4)) < 1e-12);
    const e = sequenceStats([]);
    assert.ok(Number.isNaN(e.mean) && Number.isNaN(e.recall) && Number.isNaN(e.decay));
  });

  test('means use NumPy pairwise summation; 2016 pads the per-frame array with NaN at both ends', () => {
    // values checked with NumPy 2.4: np.sum → 6.0 (a naive loop gives 0), 188.0 for 200 ones
    const v = [1e16, 1, 1, 1, 1, 1, 1, 1, -1e16];
    assert.equal(numpySum(v), 6);
    assert.equal(numpySum([1e16, ...Array.from({ length: 200 }, () => 1), -1e16]), 188);
    assert.equal(numpySum([0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
    assert.equal(sequenceStats(v).mean, 6 / 9);
    // np.nanmean([nan, *v, nan]) = 0.8888888888888888
    assert.equal(sequenceStats(v, { protocol: 'davis2016' }).mean, 8 / 9);
  });

  test('recall threshold is strict', () => {
    assert.equal(sequenceStats([0.5, 0.5000001]).recall, 0.5);
  });
});

describe('sequence evaluation and aggregation', () => {
  const w = 40;
  const h = 30;
  const gtSeq = Array.from({ length: 6 }, (_, t) => rect(w, h, 5, 20, 5 + t, 20 + t));

  test('2016: frames 1..N-2 only; first/last predictions ignored', () => {
    const preds: Array<Uint8Array | undefined> = gtSeq.map((m) => m.slice());
    preds[0] = undefined;
    preds[5] = new Uint8Array(w * h); // wrong, but not evaluated
    preds[2] = rect(w, h, 5, 20, 9, 24); // shifted by 2 relative to gt[2]
    const r = evaluateSequence2016(preds, gtSeq, w, h, { name: 'toy' });
    assert.deepEqual(r.frames, [1, 2, 3, 4]);
    assert.equal(r.sequence, 'toy');
    assert.equal(r.J.perFrame.length, 4);
    assert.equal(r.J.perFrame[0], 1);
    assert.equal(r.J.perFrame[1], jaccard(preds[2], gtSeq[2], w, h));
    assert.ok(r.J.perFrame[1] < 1);
    assert.equal(r.F.perFrame[1], boundaryF(preds[2], gtSeq[2], w, h).F);
    const s = sequenceStats(r.J.perFrame);
    assert.equal(r.J.mean, s.mean);
    assert.equal(r.J.decay, s.decay);
    assert.equal(r.boundaryPrecision.length, 4);
    // JSON round trip keeps everything (no NaN here)
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  });

  test('2016: wrong frame count or missing frame → InputError naming the sequence', () => {
    assert.throws(
      () => evaluateSequence2016(gtSeq.slice(1), gtSeq, w, h, { name: 'toy' }),
      (e: unknown) => e instanceof InputError && e.file === 'toy',
    );
    const preds: Array<Uint8Array | undefined> = gtSeq.slice();
    preds[3] = undefined;
    assert.throws(() => evaluateSequence2016(preds, gtSeq, w, h), InputError);
  });

  test('2017: objects from frame 0, void → background, missing objects zero-padded, extra ids rejected', () => {
    const mk = (fill: (y: number, x: number) => number) => {
      const m = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = fill(y, x);
      return m;
    };
    // object 1 = left block, object 2 = right block, void border ring of 255 around object 2.
    const gtFrame = mk((y, x) =>
      y >= 5 && y < 15 && x >= 3 && x < 13 ? 1 : y >= 5 && y < 15 && x >= 20 && x < 30 ? 2 : y === 16 ? 255 : 0,
    );
    const gt = [gtFrame, gtFrame, gtFrame, gtFrame];
    assert.equal(objectCount2017(gtFrame), 2);
    // prediction: object 1 perfect, object 2 absent (zero-padded) in frame 1; perfect both in frame 2
    const onlyOne = mk((y, x) => (gtFrame[y * w + x] === 1 ? 1 : 0));
    const perfect = mk((y, x) => (gtFrame[y * w + x] === 255 ? 0 : gtFrame[y * w + x]));
    const r = evaluateSequence2017([undefined, onlyOne, perfect, undefined], gt, w, h, { name: 'multi' });
    assert.equal(r.length, 2);
    assert.deepEqual(r[0].frames, [1, 2]);
    assert.deepEqual(r[0].J.perFrame, [1, 1]);
    assert.deepEqual(r[0].F.perFrame, [1, 1]);
    assert.deepEqual(r[1].J.perFrame, [0, 1]);
    assert.deepEqual(r[1].F.perFrame, [0, 1]);
    assert.equal(r[1].object, 2);
    // predicting the void ring as object 1 is counted as a false positive (void not excluded)
    const withVoid = mk((y, x) => (gtFrame[y * w + x] === 255 ? 1 : perfect[y * w + x]));
    const rv = evaluateSequence2017([undefined, withVoid, withVoid, undefined], gt, w, h);
    assert.ok(rv[0].J.perFrame[0] < 1);
    // an id above the object count is an error
    const extra = perfect.slice();
    extra[0] = 3;
    assert.throws(() => evaluateSequence2017([undefined, extra, perfect, undefined], gt, w, h), InputError);
    // ... but only in evaluated frames
    assert.equal(evaluateSequence2017([extra, perfect, perfect, extra], gt, w, h).length, 2);
  });

  test('2017 on a raw 0/255 DAVIS-2016 mask finds zero objects (the §1.4 pitfall)', () => {
    const raw = rect(w, h, 5, 20, 5, 20, 255);
    const empty = new Uint8Array(w * h);
    assert.equal(objectCount2017(raw), 0);
    assert.deepEqual(evaluateSequence2017([raw, empty, raw], [raw, raw, raw], w, h), []);
    // the 0/255 prediction itself has id 255 > 0 objects: the reference aborts, so do we
    assert.throws(() => evaluateSequence2017([raw, raw, raw], [raw, raw, raw], w, h), InputError);
    // converted 255 → 1, the same masks evaluate as one perfect object
    const one = rect(w, h, 5, 20, 5, 20, 1);
    const r = evaluateSequence2017([one, one, one], [one, one, one], w, h);
    assert.equal(r.length, 1);
    assert.deepEqual(r[0].J.perFrame, [1]);
  });

  test('aggregation: 2016 nanmean over sequences, 2017 mean over objects, J&F = (J+F)/2', () => {
    const mkRes = (name: string, obj: number, j: number[], f: number[]): ObjectResult => ({
      sequence: name,
      object: obj,
      frames: j.map((_, i) => i + 1),
      J: { ...sequenceStats(j), perFrame: j },
      F: { ...sequenceStats(f), perFrame: f },
      boundaryPrecision: f,
      boundaryRecall: f,
    });
    const a = mkRes('a', 1, [1, 1, 0.8, 0.6], [0.9, 0.9, 0.9, 0.9]);
    const b = mkRes('b', 1, [0.4, 0.4, 0.4, 0.4], [0.3, 0.7, 0.7, 0.7]);
    const b2 = mkRes('b', 2, [0.2, 0.2, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]);
    const s16 = aggregate2016([a, b]);
    assert.equal(s16.count, 2);
    assert.ok(Math.abs(s16.J.mean - (0.85 + 0.4) / 2) < 1e-12);
    assert.ok(Math.abs(s16.J.recall - (1 + 0) / 2) < 1e-12);
    assert.ok(Math.abs(s16.J.decay - (a.J.decay + b.J.decay) / 2) < 1e-12);
    assert.ok(Math.abs(s16.JF - (s16.J.mean + s16.F.mean) / 2) < 1e-15);
    const s17 = aggregate2017([a, b, b2]);
    assert.equal(s17.count, 3);
    assert.ok(Math.abs(s17.J.mean - (0.85 + 0.4 + 0.2) / 3) < 1e-12);
    assert.ok(Math.abs(s17.F.mean - (0.9 + 0.6 + 0.1) / 3) < 1e-12);
    assert.ok(Math.abs(s17.JF - (s17.J.mean + s17.F.mean) / 2) < 1e-15);
    const empty = mkRes('c', 1, [], []);
    assert.ok(Math.abs(aggregate2016([a, b, empty]).J.mean - s16.J.mean) < 1e-12); // NaN skipped
    assert.ok(Number.isNaN(aggregate2017([a, empty]).J.mean)); // np.mean propagates NaN
    const table = formatDavisTable(s17, [a, b, b2]);
    assert.match(table, /J&F-Mean/);
    assert.match(table, /^b_2 /m);
    assert.match(table, new RegExp(s17.JF.toFixed(3)));
  });
});

function readGrayPng(file: string): { w: number; h: number; data: Uint8Array } {
  const img = decode(readFileSync(file));
  assert.equal(img.channels, 1, `${file}: expected a grayscale PNG`);
  assert.equal(img.depth, 8);
  return { w: img.width, h: img.height, data: img.data as Uint8Array };
}

describe('DAVIS-2016 shared data', () => {
  const root = sharedPath('davis/Annotations/480p');
  // The two shortest sequences (50 frames each) keep this test within a few seconds.
  const sequences = ['blackswan', 'kite-surf'];
  test('GT as prediction gives J = F = 1 on every frame; a 10 px shift gives J < 1', { skip: root.skip }, () => {
    for (const seq of sequences) {
      const files = readdirSync(join(root.path, seq))
        .filter((f) => f.endsWith('.png'))
        .sort();
      assert.ok(files.length >= 3, `${seq}: frames`);
      const frames = files.map((f) => readGrayPng(join(root.path, seq, f)));
      const { w, h } = frames[0];
      assert.equal(w, 854);
      assert.equal(h, 480);
      const gts = frames.map((f) => f.data);
      for (const m of gts)
        for (let i = 0; i < m.length; i++) if (m[i] !== 0 && m[i] !== 255) assert.fail(`${seq}: value ${m[i]} is not 0/255`);
      const r = evaluateSequence2016(gts, gts, w, h, { name: seq });
      assert.equal(r.frames.length, gts.length - 2);
      assert.ok(r.J.perFrame.every((v) => v === 1));
      assert.ok(r.F.perFrame.every((v) => v === 1));
      assert.equal(r.J.mean, 1);
      assert.equal(r.J.recall, 1);
      assert.equal(r.J.decay, 0);
      assert.equal(r.F.mean, 1);
      const shifted = gts.map((m) => {
        const o = new Uint8Array(m.length);
        for (let y = 0; y < h; y++) o.set(m.subarray(y * w, y * w + w - 10), y * w + 10);
        return o;
      });
      const rs = evaluateSequence2016(shifted, gts, w, h, { name: seq });
      assert.ok(rs.J.mean < 1, `${seq}: shifted J mean ${rs.J.mean}`);
      assert.ok(rs.F.mean < 1, `${seq}: shifted F mean ${rs.F.mean}`);
      assert.ok(rs.J.perFrame.every((v, i) => v < 1 || count(gts[i + 1]) === 0));
    }
  });
});
