import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PropertyMap } from '../engines/types.js';

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
export class FrameStore {
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

  dispose(removeFiles: boolean): void {
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
    writeFileSync(tmp, Buffer.concat(parts));
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
