/**
 * `matchVertices` as the bilateral engine calls it (issue 13): per target frame, its two lattices
 * (scales A and B, d = 6, over its 12,000 superpixels) matched against those of its 9 previous
 * frames, 18 calls, on DAVIS. Times the current implementation (a merge of the two lattices'
 * vertices in key-hash order, each order computed once per lattice and included here) against the
 * previous one (a hash-table probe per target vertex, kept below as the baseline; what
 * matchVertices still does for lattices without `prepareMatching`), alternating per
 * target in one process, and checks that both give the same maps.
 *
 *   node --import tsx bench/match-vertices.ts [--sequence blackswan] [--targets 11]
 */
import { loadavg } from 'node:os';
import { computeSuperpixels, type FrameFeatureConfig, superpixelPoints } from '../src/engines/bilateral/frame-features.js';
import { VPN_COLOR_SCALES, VPN_SCALES_A, VPN_SCALES_B } from '../src/engines/bilateral/index.js';
import { buildLattice, type Lattice, matchVertices, prepareMatching } from '../src/ops/lattice.js';
import { openDavis } from '../src/video/davis.js';
import { argValue, davisRoot, machine, median, requireShared } from './common.js';

requireShared('davis');
const sequence = argValue('sequence', 'blackswan') as string;
const targets = Number(argValue('targets', '11'));
const window = 9;

function finishHash(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h;
}

/** The previous matchVertices: each target key looked up in the source's open-addressing table. */
function probeMatch(target: Lattice, source: Lattice, table: Int32Array): Int32Array {
  const d = source.d;
  const mask = table.length - 1;
  const sk = source.keys;
  const tk = target.keys;
  const out = new Int32Array(target.M);
  for (let v = 0; v < target.M; v++) {
    const tb = v * d;
    let h = 0;
    for (let i = 0; i < d; i++) h = Math.imul(h + tk[tb + i], 1664525);
    let slot = finishHash(h) & mask;
    for (;;) {
      const id = table[slot];
      if (id < 0) break;
      const sb = id * d;
      let i = 0;
      while (i < d && sk[sb + i] === tk[tb + i]) i++;
      if (i === d) {
        out[v] = id + 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return out;
}

/** The lattice's build table (what the previous implementation probed), before matchVertices memoises anything. */
function buildTable(lat: Lattice): Int32Array {
  const table = (lat as unknown as { cache: { table?: Int32Array } }).cache.table;
  if (!table) throw new Error('lattice has no build table');
  return table;
}

const config: FrameFeatureConfig = {
  variant: 'superpixel',
  superpixels: 12000,
  scalesA: VPN_SCALES_A,
  scalesB: VPN_SCALES_B,
  colorScales: VPN_COLOR_SCALES,
  pixelStride: 4,
  colorSamples: 300_000,
  valueFrames: 3,
  seed: 0,
};

// The engine's lattices (buildFramePoints) without the hash order it now prepares up front, so that
// the merge's timing includes sorting each lattice once.
function plainLattices(input: ReturnType<typeof superpixelPoints>) {
  const scaled = (scales: readonly number[]) => {
    const out = new Float32Array(6 * input.count);
    for (let j = 0; j < 6; j++)
      for (let k = 0; k < input.count; k++) out[j * input.count + k] = input.features[j * input.count + k] * scales[j];
    return out;
  };
  return {
    latA: buildLattice(scaled(config.scalesA), input.count, null, input.count, 6),
    latB: buildLattice(scaled(config.scalesB), input.count, null, input.count, 6),
  };
}

const seq = await openDavis(davisRoot, sequence);
const frames: { latA: Lattice; latB: Lattice }[] = [];
for await (const f of seq.frames.frames(0, Math.min(seq.frames.info.frameCount ?? window + targets, window + targets))) {
  const input = superpixelPoints(computeSuperpixels(f, f.index, config));
  frames.push(plainLattices(input));
}
const before: number[] = [];
const after: number[] = [];
let vertices = 0;
for (let t = window; t < frames.length; t++) {
  const tgt = frames[t];
  const guides = frames.slice(t - window, t);
  let started = performance.now();
  const old: Int32Array[] = [];
  for (const g of guides) old.push(probeMatch(tgt.latA, g.latA, buildTable(g.latA)), probeMatch(tgt.latB, g.latB, buildTable(g.latB)));
  before.push(performance.now() - started);
  started = performance.now();
  const now: Int32Array[] = [];
  // Each lattice is sorted once (the guides were, as earlier targets, except before the first).
  for (const f of t === window ? [...guides, tgt] : [tgt]) {
    prepareMatching(f.latA);
    prepareMatching(f.latB);
  }
  for (const g of guides) now.push(matchVertices(tgt.latA, g.latA), matchVertices(tgt.latB, g.latB));
  after.push(performance.now() - started);
  for (let i = 0; i < old.length; i++) {
    if (old[i].length !== now[i].length || old[i].some((x, k) => x !== now[i][k])) throw new Error(`target ${t}: maps differ`);
  }
  vertices += tgt.latA.M + tgt.latB.M;
}
const b = median(before);
const a = median(after);
console.log(`# matchVertices, ${machine()}, DAVIS ${sequence}, ${before.length} targets x ${2 * window} calls`);
console.log(`vertices per target (A + B): ${Math.round(vertices / before.length)}; maps identical`);
console.log(
  `ms per target, median: previous (probe) ${b.toFixed(1)}, merge ${a.toFixed(1)} (incl. sorting the target's two lattices): ${(a / b).toFixed(2)}x`,
);
console.log(
  `load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')}`,
);
