import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PropertyMap } from '../core/types.js';
import { BoundedFeatureStore, type FeatureSpill } from '../memory/features.js';
import type { ResultStore, SessionStores } from './stores.js';

interface Entry {
  signature: string;
  map: PropertyMap;
}

/**
 * Per-frame property maps keyed by frame index and a signature of what produced them (engine,
 * key-frames, direction). Keeps the most recent `memoryFrames` maps in memory and spills the rest
 * to `dir` as raw little-endian files, so memory stays bounded on long videos; when `dir` persists
 * between runs, an interrupted propagation resumes from what it had finished.
 *
 * File layout: `<dir>/<index>.map` = JSON header line (signature, width, height, channels,
 * hasConfidence) + '\n' + Float32 data (+ Float32 confidence).
 */
export class FrameStore implements ResultStore {
  private readonly memory = new Map<number, Entry>();

  /**
   * @param writeThrough write every map to disk as it is stored (what resuming an interrupted run
   *   needs); otherwise a map reaches disk only when it is evicted from memory.
   */
  constructor(
    private readonly dir: string | undefined,
    private readonly memoryFrames = 16,
    private readonly writeThrough = true,
  ) {
    if (dir) mkdirSync(dir, { recursive: true });
  }

  get(index: number, signature: string): PropertyMap | undefined {
    const hit = this.memory.get(index);
    if (hit) {
      if (hit.signature !== signature) return undefined;
      // refresh LRU position
      this.memory.delete(index);
      this.memory.set(index, hit);
      return hit.map;
    }
    return this.dir ? this.readFile(index, signature) : undefined;
  }

  set(index: number, signature: string, map: PropertyMap): void {
    this.memory.delete(index);
    this.memory.set(index, { signature, map });
    if (this.dir && this.writeThrough) this.writeFile(index, signature, map);
    while (this.memory.size > this.memoryFrames) {
      const oldest = this.memory.keys().next().value as number;
      const entry = this.memory.get(oldest) as Entry;
      this.memory.delete(oldest);
      if (this.dir && !this.writeThrough) this.writeFile(oldest, entry.signature, entry.map);
    }
  }

  /** Drop everything (files included). */
  clear(): void {
    this.memory.clear();
    if (this.dir && existsSync(this.dir)) {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
    }
  }

  dispose(removeFiles = false): void {
    this.memory.clear();
    if (removeFiles && this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private path(index: number): string {
    return join(this.dir as string, `${index}.map`);
  }

  private writeFile(index: number, signature: string, map: PropertyMap): void {
    const header = Buffer.from(
      `${JSON.stringify({ signature, width: map.width, height: map.height, channels: map.channels, confidence: !!map.confidence })}\n`,
    );
    const parts: Uint8Array[] = [header, new Uint8Array(map.data.buffer, map.data.byteOffset, map.data.byteLength)];
    if (map.confidence) parts.push(new Uint8Array(map.confidence.buffer, map.confidence.byteOffset, map.confidence.byteLength));
    const final = this.path(index);
    const tmp = `${final}.partial`;
    // Part by part: a map is megabytes, and concatenating it first cost a copy per write.
    writeParts(tmp, parts);
    renameSync(tmp, final);
  }

  private readFile(index: number, signature: string): PropertyMap | undefined {
    const p = this.path(index);
    if (!existsSync(p)) return undefined;
    const buf = readFileSync(p);
    const nl = buf.indexOf(10);
    if (nl < 0) return undefined;
    let head: { signature: string; width: number; height: number; channels: number; confidence: boolean };
    try {
      head = JSON.parse(buf.subarray(0, nl).toString('utf8'));
    } catch {
      return undefined; // a damaged cache entry is recomputed, never trusted
    }
    if (head.signature !== signature) return undefined;
    const n = head.width * head.height;
    const expected = nl + 1 + 4 * n * (head.channels + (head.confidence ? 1 : 0));
    if (buf.length !== expected) return undefined;
    const body = new Uint8Array(buf.subarray(nl + 1)).slice(); // aligned copy
    const f = new Float32Array(body.buffer);
    const data = f.slice(0, n * head.channels);
    const confidence = head.confidence ? f.slice(n * head.channels) : undefined;
    return { width: head.width, height: head.height, channels: head.channels, data, confidence };
  }
}

/** Writes `parts` one after another to a new file at `path` (the same bytes as their concatenation). */
function writeParts(path: string, parts: readonly Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const part of parts) {
      let done = 0;
      while (done < part.byteLength) done += writeSync(fd, part, done, part.byteLength - done);
    }
  } finally {
    closeSync(fd);
  }
}

/** Evicted feature-store values as files `<dir>/<index>/<key>` (keys made file-safe). */
export class DiskFeatureSpill implements FeatureSpill {
  constructor(private readonly dir: string) {}
  private path(index: number, key: string): string {
    return join(
      this.dir,
      String(index),
      key.replace(/[^A-Za-z0-9._-]/g, (c) => `%${c.charCodeAt(0).toString(16)}`),
    );
  }
  write(index: number, key: string, bytes: Uint8Array): void {
    const p = this.path(index, key);
    mkdirSync(join(this.dir, String(index)), { recursive: true });
    writeFileSync(`${p}.partial`, bytes);
    renameSync(`${p}.partial`, p);
  }
  read(index: number, key: string): Uint8Array | undefined {
    const p = this.path(index, key);
    return existsSync(p) ? new Uint8Array(readFileSync(p)) : undefined;
  }
  clear(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface DiskStoreOptions {
  /**
   * Where results are kept. A directory given here persists (an interrupted run resumes from it);
   * by default a private temporary directory, removed by dispose().
   */
  readonly cacheDir?: string;
  /** Results held in memory before spilling (default 16). */
  readonly memoryFrames?: number;
  /** Feature-store memory budget in bytes (default 768 MiB); features beyond it spill to a temporary directory. */
  readonly featureBytes?: number;
}

/**
 * Node stores: results spilled to disk (bounded memory; resumable when `cacheDir` is given) and a
 * feature store that spills to a private temporary directory (features are never reused across
 * runs: they are cheap to recompute and a stale one would be wrong).
 */
export function diskStores(opts: DiskStoreOptions = {}): SessionStores & { readonly cacheRoot: string } {
  const owns = !opts.cacheDir;
  const cacheRoot = opts.cacheDir ?? join(tmpdir(), `vprop-session-${randomBytes(6).toString('hex')}`);
  const featureDir = join(tmpdir(), `vprop-features-${randomBytes(6).toString('hex')}`);
  const mem = opts.memoryFrames ?? 16;
  const stores = new Map<string, FrameStore>();
  let features: BoundedFeatureStore | undefined;
  return {
    cacheRoot,
    results(name) {
      let s = stores.get(name);
      // A private cache only has to bound memory (write on eviction); a given one must survive a crash.
      if (!s) stores.set(name, (s = new FrameStore(join(cacheRoot, name === 'merged' ? 'results' : name), mem, !owns)));
      return s;
    },
    features() {
      if (!features) features = new BoundedFeatureStore({ maxBytes: opts.featureBytes, spill: new DiskFeatureSpill(featureDir) });
      return features;
    },
    dispose() {
      for (const s of stores.values()) s.dispose(false);
      features?.clear();
      rmSync(featureDir, { recursive: true, force: true });
      if (owns) rmSync(cacheRoot, { recursive: true, force: true });
    },
  };
}
