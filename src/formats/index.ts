/** File formats and colour spaces: label PNGs, COCO RLE, Radiance RGBE, colour conversions. */
export * from './color.js';
export * from './npy.js';
export * from './png.js';
export * from './rgbe.js';
export * from './rle.js';
