/**
 * Every engine of the Node package: the registry's pure engines (copy, bilateral) plus those that
 * run ONNX models through onnxruntime-node (flowgru, stpn, maskprop, vpn). Importing this module registers them.
 */
import { flowgruEngine } from './flowgru/index.js';
import { maskpropEngine } from './maskprop/index.js';
import { registerEngine } from './registry.js';
import { stpnEngine } from './stpn/index.js';
import { vpnEngine } from './vpn/index.js';

export { type BilateralOptions, type BilateralTimings, bilateralEngine, createBilateralEngine } from './bilateral/index.js';
export { copyEngine, createCopyEngine } from './copy/index.js';
export { createFlowGruEngine, type FlowGruOptions, flowgruEngine, type PerFrameFn, perFrameFromFolder } from './flowgru/index.js';
export { createMaskPropEngine, type MaskPropOptions, type MaskPropTimings, maskpropEngine } from './maskprop/index.js';
export * from './registry.js';
export { createStpnEngine, MASK_LOGIT, type StpnOptions, softAggregate, stpnEngine } from './stpn/index.js';
export type { Engine, EngineContext, EngineOptions, EngineRegistration, FitContext, Guide, Target } from './types.js';
export { createVpnEngine, type VpnOptions, vpnEngine } from './vpn/index.js';

registerEngine(flowgruEngine);
registerEngine(stpnEngine);
registerEngine(maskpropEngine);
registerEngine(vpnEngine);
