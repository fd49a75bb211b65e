/**
 * A fast non-cryptographic 53-bit hash (cyrb53 mixing) of strings and typed arrays, for cache
 * signatures and content versions. Pure JavaScript so that the session runs in browsers too.
 */
export class Hasher {
  private h1: number;
  private h2: number;

  constructor(seed = 0) {
    this.h1 = 0xdeadbeef ^ seed;
    this.h2 = 0x41c6ce57 ^ seed;
  }

  update(value: string | ArrayBufferView): this {
    if (typeof value === 'string') {
      for (let i = 0; i < value.length; i++) this.mix(value.charCodeAt(i));
      this.mix(0x1f); // separator: update('ab') then update('c') differs from update('a') then update('bc')
      return this;
    }
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const words = bytes.byteLength >> 2;
    if (bytes.byteOffset % 4 === 0 && words > 0) {
      const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
      for (let i = 0; i < words; i++) this.mix(u32[i]);
      for (let i = words * 4; i < bytes.length; i++) this.mix(bytes[i]);
    } else {
      for (let i = 0; i < bytes.length; i++) this.mix(bytes[i]);
    }
    this.mix(bytes.length);
    return this;
  }

  private mix(v: number): void {
    this.h1 = Math.imul(this.h1 ^ v, 2654435761);
    this.h2 = Math.imul(this.h2 ^ v, 1597334677);
  }

  /** 14 hex digits (53 bits). */
  digest(): string {
    let h1 = this.h1;
    let h2 = this.h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    const n = 4294967296 * (2097151 & h2) + (h1 >>> 0);
    return n.toString(16).padStart(14, '0');
  }
}

/** Hash of one or more strings / typed arrays. */
export function hashOf(...parts: Array<string | ArrayBufferView>): string {
  const h = new Hasher();
  for (const p of parts) h.update(p);
  return h.digest();
}
