/**
 * Deterministic pseudo-random numbers for the synthetic scenes and the engines' seeded sampling.
 * Both draw from these (never `Math.random`), so a seed fixes every result on every platform.
 */

/** Finaliser of MurmurHash3 / splitmix32: a bijective avalanche on 32 bits. */
export function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hash of up to three integers to a uint32 (lattice values of the noise, stream derivation). */
export function hash3(a: number, b: number, c: number): number {
  // Distinct odd multipliers keep (a, b, c) permutations apart before the avalanche.
  return mix32(Math.imul(a | 0, 0x27d4eb2d) ^ Math.imul(b | 0, 0x165667b1) ^ Math.imul(c | 0, 0x9e3779b1) ^ 0x5bd1e995);
}

/** Hash of three integers to a float in [0, 1). */
export function hashUnit(a: number, b: number, c: number): number {
  return hash3(a, b, c) / 4294967296;
}

/**
 * splitmix32: one uint32 of state, full period 2^32, good enough statistics for procedural
 * content. `fork(tag)` derives an independent stream so that, e.g., turning HDR on (which draws
 * light positions) does not shift the random numbers behind the geometry.
 */
export class Rng {
  private state: number;
  private readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.state = this.seed;
  }

  /** Next uint32. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    return mix32(this.state);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** -1 or +1 with equal probability. */
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  /** An independent stream determined by this stream's seed and `tag` (not by draws so far). */
  fork(tag: number): Rng {
    return new Rng(hash3(this.seed, tag, 0x51ed27));
  }

  /** A seed for hash-based noise, determined like `fork`. */
  noiseSeed(tag: number): number {
    return hash3(this.seed, tag, 0x2545f491);
  }

  /** Fisher–Yates shuffle of 0..n-1. */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    return p;
  }
}
