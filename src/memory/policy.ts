/**
 * Guide selection: which already-known frames an engine sees when it predicts a target.
 *
 * The session keeps, for each directional pass, a pool of candidates: the pass's source key-frame,
 * the other key-frames on the pass's side, and the frames the pass has predicted so far (in
 * propagation order). A policy picks from that pool:
 * - `previous(n)`: the n most recently predicted frames, nearest first (VPN's window, GRFP's
 *   recurrence); the key-frame counts as the first of them.
 * - `previousAndKeyframe(n)`: the same plus the pass's source key-frame once it has left the window
 *   (a permanent reference, as XMem++ keeps).
 * - `nearestKeyframe()`: the pass's source key-frame only, i.e. the nearest key-frame on each side,
 *   the two sides being merged by the session (interpolating engines, the copy floor).
 * - `selected(k, scorer)`: memory selection (MSN): a scorer rates every candidate of the pool as a
 *   guide for the target; the best k are used, either as k separate predictions merged n-way by
 *   score × confidence (`ensemble`, the default) or as one prediction with the k guides. With
 *   `withPrevious`, the pass's newest frame (t − 1 going forward) is always used too, at its own
 *   score, when the scorer did not rank it among the k: for engines that carry a guide to the
 *   target by one flow field, the adjacent frame is the one guide whose warp is reliable, and the
 *   selected ones add what the chain lost.
 *
 * The pool a policy may reach decides what a result depends on (`scope`): 'segment' policies see
 * only frames between the pass's key-frame and the target, so adding a key-frame elsewhere leaves
 * the result valid; 'side' policies see every key-frame on the pass's side, so their results are
 * invalidated by any key-frame added on that side.
 */
import type { PropertyMap, RgbFrame } from '../core/types.js';
import type { FeatureStore } from './features.js';

/** A frame of the pool, as the scorer sees it (frames and maps are loaded only for the chosen ones). */
export interface GuideCandidate {
  readonly index: number;
  /** A user-given key-frame (or its composition with a prediction, for partial key-frames). */
  readonly isKeyframe: boolean;
  /** Position in propagation order: 0 for the pass's source key-frame, 1 for the next frame, ... */
  readonly order: number;
}

/** What a scorer may read: the target frame and, on request, a candidate's frame and map. */
export interface ScoringContext {
  readonly target: { readonly index: number; readonly frame: RgbFrame };
  frame(index: number): Promise<RgbFrame>;
  property(candidate: GuideCandidate): Promise<PropertyMap>;
  /** The session's per-frame store (also what tells one session's frames from another's). */
  readonly features?: FeatureStore;
  readonly signal?: AbortSignal;
}

/**
 * Rates candidates as guides for a target: higher is better, one score per candidate in [0, 1]
 * (used as ensemble weights). Must be linear in the pool size with a small constant: a scorer
 * reads per-frame features from the feature store rather than recomputing them.
 */
export interface GuideScorer {
  readonly name: string;
  score(candidates: readonly GuideCandidate[], ctx: ScoringContext): Promise<Float32Array>;
}

export type GuidePolicy =
  | { readonly kind: 'previous'; readonly n: number; readonly keyframe: boolean }
  | { readonly kind: 'nearest-keyframe' }
  | {
      readonly kind: 'selected';
      readonly k: number;
      readonly scorer: GuideScorer;
      readonly ensemble: boolean;
      /** Pool bound: key-frames stay, predicted frames beyond this many are thinned evenly. */
      readonly poolCap: number;
      /** Always use the pass's newest frame as well (see the module comment). */
      readonly withPrevious: boolean;
    };

export function previous(n = 1): GuidePolicy {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`previous(n): n must be an integer >= 1, got ${n}`);
  return { kind: 'previous', n, keyframe: false };
}

export function previousAndKeyframe(n = 1): GuidePolicy {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`previousAndKeyframe(n): n must be an integer >= 1, got ${n}`);
  return { kind: 'previous', n, keyframe: true };
}

export function nearestKeyframe(): GuidePolicy {
  return { kind: 'nearest-keyframe' };
}

export function selected(
  k: number,
  scorer: GuideScorer,
  opts: { ensemble?: boolean; poolCap?: number; withPrevious?: boolean } = {},
): GuidePolicy {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`selected(k): k must be an integer >= 1, got ${k}`);
  const poolCap = opts.poolCap ?? 200;
  if (!Number.isInteger(poolCap) || poolCap < k) throw new RangeError(`selected: poolCap must be an integer >= k, got ${poolCap}`);
  return { kind: 'selected', k, scorer, ensemble: opts.ensemble ?? true, poolCap, withPrevious: opts.withPrevious ?? false };
}

/** Which key-frames a policy's results depend on (see the module comment). */
export function policyScope(p: GuidePolicy): 'segment' | 'side' {
  return p.kind === 'selected' ? 'side' : 'segment';
}

/** Whether predicted frames are kept in the pool beyond the previous-n window. */
export function keepsWholePass(p: GuidePolicy): boolean {
  return p.kind === 'selected';
}

/** A short text of the policy for result signatures. */
export function policySignature(p: GuidePolicy): string {
  switch (p.kind) {
    case 'previous':
      return `previous(${p.n}${p.keyframe ? '+kf' : ''})`;
    case 'nearest-keyframe':
      return 'nearest-keyframe';
    case 'selected':
      return `selected(${p.k},${p.scorer.name},${p.ensemble ? 'ensemble' : 'joint'},${p.poolCap}${p.withPrevious ? ',+previous' : ''})`;
  }
}

/** One prediction's guides and its weight in an ensemble. */
export interface GuideSet {
  readonly guides: readonly GuideCandidate[];
  readonly weight: number;
}

/**
 * The guide sets for a target. `pool` is in propagation order (key-frames of the side first, then
 * the pass's source key-frame and its predictions); `passStart` is the index in `pool` of the
 * pass's source key-frame.
 */
export async function chooseGuides(
  policy: GuidePolicy,
  pool: readonly GuideCandidate[],
  passStart: number,
  ctx: ScoringContext,
): Promise<GuideSet[]> {
  const pass = pool.slice(passStart);
  switch (policy.kind) {
    case 'nearest-keyframe':
      // A pass without a key-frame (an engine that needs none) has nothing to offer here.
      return pass[0]?.isKeyframe ? [{ guides: [pass[0]], weight: 1 }] : [];
    case 'previous': {
      const recent = pass.slice(-policy.n).reverse();
      if (policy.keyframe && pass[0]?.isKeyframe && !recent.includes(pass[0])) recent.push(pass[0]);
      return [{ guides: recent, weight: 1 }];
    }
    case 'selected': {
      if (pool.length === 0) return [];
      const scores = await policy.scorer.score(pool, ctx);
      if (scores.length !== pool.length)
        throw new Error(`guide scorer ${policy.scorer.name} returned ${scores.length} scores for ${pool.length} candidates`);
      const order = [...pool.keys()].sort((a, b) => scores[b] - scores[a] || pool[b].order - pool[a].order);
      const top = order.slice(0, policy.k);
      // The pool is in propagation order, so its last entry is the pass's newest frame.
      if (policy.withPrevious && !top.includes(pool.length - 1)) top.push(pool.length - 1);
      if (!policy.ensemble) return [{ guides: top.map((i) => pool[i]), weight: 1 }];
      return top.map((i) => ({ guides: [pool[i]], weight: Math.max(scores[i], 1e-6) }));
    }
  }
}

/**
 * Keep a pool bounded: every key-frame and the newest `keepRecent` predictions stay; older
 * predictions are thinned to every other one until the pool fits `cap`.
 */
export function capPool(pool: GuideCandidate[], cap: number, keepRecent = 8): GuideCandidate[] {
  let out = pool;
  while (out.length > cap) {
    const cut = out.length - keepRecent;
    let dropOdd = false;
    const next: GuideCandidate[] = [];
    for (let i = 0; i < out.length; i++) {
      const c = out[i];
      if (c.isKeyframe || i >= cut) next.push(c);
      else {
        if (dropOdd) {
          dropOdd = false;
          continue;
        }
        dropOdd = true;
        next.push(c);
      }
    }
    if (next.length === out.length) break;
    out = next;
  }
  return out;
}
