// Moved to src/util/rng.ts (engines use it too); kept so existing imports resolve.
export * from '../util/rng.js';
