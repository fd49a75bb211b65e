/**
 * Where a session keeps per-frame results. The session itself only needs this interface, so the
 * same code runs in browsers (memory) and in Node (spilled to disk, resumable: disk-store.ts).
 */
import type { PropertyMap } from '../core/types.js';
import { BoundedFeatureStore, type FeatureStore } from '../memory/features.js';

/**
 * Property maps keyed by frame index and a signature of what produced them (engine, options,
 * key-frames, direction). A map stored under another signature is never returned.
 */
export interface ResultStore {
  get(index: number, signature: string): PropertyMap | undefined;
  set(index: number, signature: string, map: PropertyMap): void;
  dispose(): void;
}

/** What a session is given to keep its state in (results of each pass, merged results, features). */
export interface SessionStores {
  results(name: 'merged' | 'forward' | 'backward'): ResultStore;
  features(): FeatureStore;
  dispose(): void | Promise<void>;
}

/** Everything in memory (browsers; short clips). Memory grows with the number of frames propagated. */
export class MemoryResultStore implements ResultStore {
  private readonly maps = new Map<number, { signature: string; map: PropertyMap }>();
  get(index: number, signature: string): PropertyMap | undefined {
    const hit = this.maps.get(index);
    return hit && hit.signature === signature ? hit.map : undefined;
  }
  set(index: number, signature: string, map: PropertyMap): void {
    this.maps.set(index, { signature, map });
  }
  dispose(): void {
    this.maps.clear();
  }
}

export function memoryStores(opts: { featureBytes?: number } = {}): SessionStores {
  const stores = new Map<string, MemoryResultStore>();
  const features = new BoundedFeatureStore({ maxBytes: opts.featureBytes });
  return {
    results(name) {
      let s = stores.get(name);
      if (!s) stores.set(name, (s = new MemoryResultStore()));
      return s;
    },
    features: () => features,
    dispose() {
      for (const s of stores.values()) s.dispose();
      features.clear();
    },
  };
}
