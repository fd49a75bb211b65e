/** Guide selection (policies, pool bounding), the n-way merge, and the per-frame feature store. */
export {
  BoundedFeatureStore,
  byteSize,
  decodeSpill,
  encodeSpill,
  type FeatureSpill,
  type FeatureStore,
  type FeatureStoreOptions,
  type SpillableValue,
} from './features.js';
export { mergeDirections, mergeWeighted, type WeightedMap } from './merge.js';
export {
  capPool,
  chooseGuides,
  type GuideCandidate,
  type GuidePolicy,
  type GuideScorer,
  type GuideSet,
  keepsWholePass,
  nearestKeyframe,
  policyScope,
  policySignature,
  previous,
  previousAndKeyframe,
  type ScoringContext,
  selected,
} from './policy.js';
