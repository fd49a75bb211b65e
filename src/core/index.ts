/** The bottom layer: shared types, errors, the shape check, option schemas, hashing. */
export * from './errors.js';
export * from './hash.js';
export * from './options.js';
export * from './shape.js';
export * from './types.js';
