/**
 * The frame-indexed feature store: what engines compute per frame (superpixels, lattices, flows,
 * backbone features, unaries) kept by frame index and name, so a frame analysed as a target is not
 * analysed again as a guide, and so memory selection can score a pool of earlier frames without
 * recomputing their features. Bounded: least recently used frames are evicted when the byte budget
 * is exceeded; with a `spill` (the Node session gives one on disk), evicted values that are typed
 * arrays or plain records of them are written out and read back on demand, others are dropped and
 * recomputed.
 */

/** Values the store can spill: typed arrays, numbers, strings, booleans and plain records of them. */
export type SpillableValue =
  | number
  | string
  | boolean
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | { readonly [key: string]: SpillableValue };

/** Where evicted spillable values go (encoded by `encodeSpill`). */
export interface FeatureSpill {
  write(index: number, key: string, bytes: Uint8Array): void;
  read(index: number, key: string): Uint8Array | undefined;
  /** Remove everything spilled. */
  clear(): void;
}

export interface FeatureSetOptions {
  /** Keep the value on the spill when the frame is evicted (default false: drop it). */
  readonly spill?: boolean;
}

export interface FeatureStore {
  get<T>(index: number, key: string): T | undefined;
  set<T>(index: number, key: string, value: T, opts?: FeatureSetOptions): T;
  /** The stored value, or `compute()` stored and returned. */
  getOrCompute<T>(index: number, key: string, compute: () => T, opts?: FeatureSetOptions): T;
  /** Bytes currently held in memory (estimated from typed arrays). */
  readonly bytes: number;
  /** Drop everything (spilled values included). */
  clear(): void;
}

export interface FeatureStoreOptions {
  /** Memory budget in bytes (default 768 MiB). */
  readonly maxBytes?: number;
  /**
   * Frames held at most (default 32): engines read the frames of their guide window, so memory
   * follows the window, not the video's length.
   */
  readonly maxFrames?: number;
  readonly spill?: FeatureSpill;
}

interface FrameEntry {
  values: Map<string, { value: unknown; bytes: number; spill: boolean }>;
  bytes: number;
}

export class BoundedFeatureStore implements FeatureStore {
  private readonly frames = new Map<number, FrameEntry>();
  private held = 0;
  private readonly maxBytes: number;
  private readonly maxFrames: number;
  private readonly spill: FeatureSpill | undefined;
  /** Keys known to be spilled, per frame (so a miss does not touch the disk). */
  private readonly spilled = new Map<number, Set<string>>();

  constructor(opts: FeatureStoreOptions = {}) {
    this.maxBytes = opts.maxBytes ?? 768 * 2 ** 20;
    this.maxFrames = opts.maxFrames ?? 32;
    this.spill = opts.spill;
  }

  get bytes(): number {
    return this.held;
  }

  get<T>(index: number, key: string): T | undefined {
    const entry = this.frames.get(index);
    const hit = entry?.values.get(key);
    if (entry && hit) {
      this.frames.delete(index); // LRU: most recent last
      this.frames.set(index, entry);
      return hit.value as T;
    }
    if (this.spill && this.spilled.get(index)?.has(key)) {
      const bytes = this.spill.read(index, key);
      if (bytes) return this.set(index, key, decodeSpill(bytes) as T, { spill: true });
    }
    return undefined;
  }

  set<T>(index: number, key: string, value: T, opts: FeatureSetOptions = {}): T {
    let entry = this.frames.get(index);
    if (!entry) entry = { values: new Map(), bytes: 0 };
    else this.frames.delete(index);
    this.frames.set(index, entry);
    const old = entry.values.get(key);
    if (old) {
      entry.bytes -= old.bytes;
      this.held -= old.bytes;
    }
    const bytes = byteSize(value);
    entry.values.set(key, { value, bytes, spill: opts.spill ?? false });
    entry.bytes += bytes;
    this.held += bytes;
    this.evict(index);
    return value;
  }

  getOrCompute<T>(index: number, key: string, compute: () => T, opts?: FeatureSetOptions): T {
    const hit = this.get<T>(index, key);
    return hit !== undefined ? hit : this.set(index, key, compute(), opts);
  }

  clear(): void {
    this.frames.clear();
    this.spilled.clear();
    this.held = 0;
    this.spill?.clear();
  }

  /** Evict least recently used frames (never `keep`, the frame just written) until within budget. */
  private evict(keep: number): void {
    for (const [index, entry] of this.frames) {
      if (this.held <= this.maxBytes && this.frames.size <= this.maxFrames) return;
      if (index === keep) continue;
      this.frames.delete(index);
      this.held -= entry.bytes;
      if (!this.spill) continue;
      for (const [key, { value, spill }] of entry.values) {
        if (!spill) continue;
        const bytes = encodeSpill(value);
        if (!bytes) continue;
        this.spill.write(index, key, bytes);
        let keys = this.spilled.get(index);
        if (!keys) this.spilled.set(index, (keys = new Set()));
        keys.add(key);
      }
    }
  }
}

/** Estimated bytes of a value: typed arrays counted, plain objects walked one level deep per level. */
export function byteSize(v: unknown, depth = 0): number {
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (v === null || typeof v !== 'object' || depth > 3) return 16;
  let s = 16;
  if (v instanceof Map) {
    for (const x of v.values()) s += byteSize(x, depth + 1);
    return s;
  }
  for (const x of Object.values(v)) s += byteSize(x, depth + 1);
  return s;
}

const TYPED: Record<string, new (b: ArrayBuffer) => ArrayBufferView> = {
  Float32Array,
  Float64Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
};

/**
 * Encode a spillable value: a JSON description (typed arrays replaced by references into the
 * binary tail, 8-byte aligned) + '\n' + the array bytes. Undefined for values that are not
 * spillable (class instances other than typed arrays, maps, functions).
 */
export function encodeSpill(value: unknown): Uint8Array | undefined {
  const arrays: ArrayBufferView[] = [];
  let offset = 0;
  const describe = (v: unknown, depth: number): unknown => {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
    if (ArrayBuffer.isView(v)) {
      const type = v.constructor.name;
      if (!(type in TYPED)) throw new Error('unspillable');
      const ref = { $array: type, offset, length: v.byteLength };
      arrays.push(v);
      offset += Math.ceil(v.byteLength / 8) * 8;
      return ref;
    }
    if (v === null || typeof v !== 'object' || depth > 4 || Object.getPrototypeOf(v) !== Object.prototype) throw new Error('unspillable');
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = describe(x, depth + 1);
    return out;
  };
  let head: string;
  try {
    head = JSON.stringify(describe(value, 0));
  } catch {
    return undefined;
  }
  const headBytes = new TextEncoder().encode(`${head}\n`);
  const start = Math.ceil(headBytes.length / 8) * 8;
  const out = new Uint8Array(start + offset);
  out.set(headBytes);
  out.fill(32, headBytes.length, start); // spaces after the newline: ignored by the reader
  let at = start;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += Math.ceil(a.byteLength / 8) * 8;
  }
  return out;
}

export function decodeSpill(bytes: Uint8Array): unknown {
  const nl = bytes.indexOf(10);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl)));
  const start = Math.ceil((nl + 1) / 8) * 8;
  const build = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const r = v as { $array?: string; offset?: number; length?: number };
    if (r.$array) {
      const copy = bytes.slice(start + (r.offset as number), start + (r.offset as number) + (r.length as number));
      return new TYPED[r.$array](copy.buffer);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = build(x);
    return out;
  };
  return build(head);
}
