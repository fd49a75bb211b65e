import { type BilateralOptions, createBilateralEngine } from './bilateral/index.js';
import { createCopyEngine } from './copy/index.js';
import { createFlowGruEngine, type FlowGruOptions } from './flowgru/index.js';
import type { Engine } from './types.js';

export type { Engine, EngineContext, Guide, GuideRequest, PropertyMap, Task } from './types.js';

/** Engines by CLI name. Each factory takes its own options object (unknown keys are ignored). */
const factories: Record<string, (options: Record<string, unknown>) => Engine> = {
  copy: () => createCopyEngine(),
  bilateral: (o) => createBilateralEngine(o as BilateralOptions),
  flowgru: (o) => createFlowGruEngine(o as FlowGruOptions),
};

export function engineNames(): string[] {
  return Object.keys(factories);
}

export function registerEngine(name: string, factory: (options: Record<string, unknown>) => Engine): void {
  factories[name] = factory;
}

export function createEngine(name: string, options: Record<string, unknown> = {}): Engine {
  const f = factories[name];
  if (!f) throw new Error(`unknown engine "${name}" (available: ${engineNames().join(', ')})`);
  return f(options);
}

/** The most accurate engine available for a task (what `vprop demo` uses). */
export function bestEngineFor(task: string): string {
  const preference = ['bilateral', 'copy'];
  for (const name of preference) {
    const f = factories[name];
    if (f?.({}).tasks.includes(task as never)) return name;
  }
  return 'copy';
}
