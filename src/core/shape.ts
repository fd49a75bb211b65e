import { InputError } from './errors.js';
import type { Size } from './types.js';

export interface ShapeExpectation {
  readonly width: number;
  readonly height: number;
  /** Planar channel count, when `got` carries data to check against it. */
  readonly channels?: number;
}

export interface ShapeCheckOptions {
  /**
   * Relative size difference accepted in each dimension (0.01 = within 1 %): the caller then
   * resizes. Default 0: sizes must be equal.
   */
  readonly tolerance?: number;
}

/**
 * The one size check of the project. `what` names the thing being checked (a file, "key-frame 12",
 * "engine bilateral's output") and goes into the error. Returns 'exact' when the sizes are equal
 * and 'close' when they differ within `tolerance` (the caller resizes and may warn); throws an
 * InputError otherwise, and when `got.data` does not hold `channels * width * height` values.
 */
export function checkShape(
  what: string,
  got: Size & { readonly data?: ArrayLike<number>; readonly channels?: number },
  expected: ShapeExpectation,
  opts: ShapeCheckOptions = {},
): 'exact' | 'close' {
  const channels = expected.channels ?? got.channels;
  if (got.data !== undefined && channels !== undefined && got.data.length !== channels * got.width * got.height) {
    throw new InputError(what, `holds ${got.data.length} values, expected ${channels} x ${got.height} x ${got.width}`);
  }
  if (expected.channels !== undefined && got.channels !== undefined && got.channels !== expected.channels) {
    throw new InputError(what, `has ${got.channels} channels, expected ${expected.channels}`);
  }
  if (got.width === expected.width && got.height === expected.height) return 'exact';
  const tol = opts.tolerance ?? 0;
  const close =
    tol > 0 &&
    Math.abs(got.width - expected.width) <= tol * expected.width &&
    Math.abs(got.height - expected.height) <= tol * expected.height;
  if (close) return 'close';
  throw new InputError(
    what,
    `is ${got.width}x${got.height} but the video is ${expected.width}x${expected.height}${tol > 0 ? ` (more than ${tol * 100} % off)` : ''}`,
  );
}
