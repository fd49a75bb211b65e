/**
 * Evaluation measures: DAVIS J/F with the 2016 and 2017 protocols, colour PSNR with the VPN
 * protocol helpers, HDR log-domain errors, and semantic-label IoU / temporal consistency.
 */
export * from './color.js';
export * from './davis.js';
export * from './hdr.js';
export * from './labels.js';
export * from './superpixels.js';
