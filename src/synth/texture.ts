/**
 * Precomputed textures (linear RGB albedo or radiance) and their bilinear sampling. Textures are
 * built once per scene, so rendering a frame costs one inverse-affine lookup and one bilinear
 * sample per pixel.
 */

/**
 * A texture over a rectangle of some 2-D coordinate system (world units for the background,
 * local object units for objects). Texel (i, j) has its centre at
 * `(originX + i * texel, originY + j * texel)`; `data[(j * width + i) * 3 + c]`, linear RGB.
 * With `periodic` the texture repeats along x (width must then be a power of two); along y, and
 * along x otherwise, lookups clamp to the edge texel.
 */
export class Texture {
  readonly data: Float32Array;
  private readonly mask: number;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly originX: number,
    readonly originY: number,
    readonly texel: number,
    readonly periodic: boolean,
  ) {
    if (periodic && (width & (width - 1)) !== 0) throw new Error(`periodic texture width ${width} is not a power of two`);
    this.data = new Float32Array(width * height * 3);
    this.mask = width - 1;
  }

  /** Bilinear sample at coordinates (x, y) into `out[0..2]`. */
  sample(x: number, y: number, out: Float64Array): void {
    const u = (x - this.originX) / this.texel;
    const v = (y - this.originY) / this.texel;
    let i0 = Math.floor(u);
    let j0 = Math.floor(v);
    let fu = u - i0;
    let fv = v - j0;
    let i1: number;
    const w = this.width;
    const h = this.height;
    if (this.periodic) {
      i0 &= this.mask;
      i1 = (i0 + 1) & this.mask;
    } else if (i0 < 0) {
      i0 = i1 = 0;
      fu = 0;
    } else if (i0 >= w - 1) {
      i0 = i1 = w - 1;
      fu = 0;
    } else i1 = i0 + 1;
    let j1: number;
    if (j0 < 0) {
      j0 = j1 = 0;
      fv = 0;
    } else if (j0 >= h - 1) {
      j0 = j1 = h - 1;
      fv = 0;
    } else j1 = j0 + 1;
    const d = this.data;
    const o00 = (j0 * w + i0) * 3;
    const o10 = (j0 * w + i1) * 3;
    const o01 = (j1 * w + i0) * 3;
    const o11 = (j1 * w + i1) * 3;
    const w00 = (1 - fu) * (1 - fv);
    const w10 = fu * (1 - fv);
    const w01 = (1 - fu) * fv;
    const w11 = fu * fv;
    out[0] = w00 * d[o00] + w10 * d[o10] + w01 * d[o01] + w11 * d[o11];
    out[1] = w00 * d[o00 + 1] + w10 * d[o10 + 1] + w01 * d[o01 + 1] + w11 * d[o11 + 1];
    out[2] = w00 * d[o00 + 2] + w10 * d[o10 + 2] + w01 * d[o01 + 2] + w11 * d[o11 + 2];
  }

  /**
   * Add an isotropic Gaussian emitter `peak * colour * exp(-r^2 / (2 sigma^2))` centred at
   * (x, y) (coordinates), over 4 sigma. Distances along a periodic x wrap.
   */
  addGaussian(x: number, y: number, sigma: number, peak: number, colour: readonly [number, number, number]): void {
    const reach = 4 * sigma;
    const i0 = Math.floor((x - reach - this.originX) / this.texel);
    const i1 = Math.ceil((x + reach - this.originX) / this.texel);
    const j0 = Math.max(0, Math.floor((y - reach - this.originY) / this.texel));
    const j1 = Math.min(this.height - 1, Math.ceil((y + reach - this.originY) / this.texel));
    const inv = 1 / (2 * sigma * sigma);
    for (let j = j0; j <= j1; j++) {
      const dy = this.originY + j * this.texel - y;
      for (let ii = i0; ii <= i1; ii++) {
        let i = ii;
        if (this.periodic) i &= this.mask;
        else if (i < 0 || i >= this.width) continue;
        const dx = this.originX + ii * this.texel - x;
        const e = peak * Math.exp(-(dx * dx + dy * dy) * inv);
        const o = (j * this.width + i) * 3;
        this.data[o] += e * colour[0];
        this.data[o + 1] += e * colour[1];
        this.data[o + 2] += e * colour[2];
      }
    }
  }
}
