/**
 * Helpers of superpixel-quality measures (boundary recall against ground-truth regions).
 */

/** Pixels (row-major `width x height`) with a 4-neighbour of a different value: 1, else 0. */
export function labelEdges(values: ArrayLike<number>, width: number, height: number): Uint8Array {
  const e = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const v = values[p];
      if (
        (x > 0 && values[p - 1] !== v) ||
        (x < width - 1 && values[p + 1] !== v) ||
        (y > 0 && values[p - width] !== v) ||
        (y < height - 1 && values[p + width] !== v)
      )
        e[p] = 1;
    }
  }
  return e;
}
