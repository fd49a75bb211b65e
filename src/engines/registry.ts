/**
 * The engine registry: registrations by name, options parsed and validated against each engine's
 * schema before it is created. Holds the engines whose kernels are pure TypeScript (copy,
 * bilateral), so it runs in browsers; the Node entry adds the ONNX-based ones (engines/index.ts).
 */
import { InputError } from '../core/errors.js';
import { parseOptions } from '../core/options.js';
import type { Task } from '../core/types.js';
import { bilateralEngine } from './bilateral/index.js';
import { copyEngine } from './copy/index.js';
import type { Engine, EngineRegistration } from './types.js';

const registrations = new Map<string, EngineRegistration>();

/** Add (or replace) an engine. */
export function registerEngine(reg: EngineRegistration): void {
  if (!/^[a-z][a-z0-9-]*$/.test(reg.name)) throw new RangeError(`engine name "${reg.name}" must be lower-case letters, digits and dashes`);
  registrations.set(reg.name, reg);
}

export function engineNames(): string[] {
  return [...registrations.keys()];
}

export function engineRegistrations(): EngineRegistration[] {
  return [...registrations.values()];
}

export function getEngineRegistration(name: string): EngineRegistration {
  const reg = registrations.get(name);
  if (!reg) throw new InputError('engine', `unknown engine "${name}" (available: ${engineNames().join(', ')})`);
  return reg;
}

/**
 * Create an engine by name. `options` are validated against the engine's schema: an unknown name
 * or a wrong type is an OptionError naming the option and what it expects; strings are accepted
 * for numbers, booleans and number lists (the command line's `--option key=value`).
 */
export function createEngine(name: string, options: Readonly<Record<string, unknown>> = {}): Engine {
  const reg = getEngineRegistration(name);
  const parsed = parseOptions(`engine ${name}`, reg.options, options);
  return reg.create(parsed);
}

/** The preferred engine for a task: the highest `preference` among engines that do it. */
export function bestEngineFor(task: Task): string {
  let best: string | undefined;
  let score = Number.NEGATIVE_INFINITY;
  for (const reg of registrations.values()) {
    const p = reg.preference?.[task];
    if (p !== undefined && reg.tasks.includes(task) && p > score) {
      score = p;
      best = reg.name;
    }
  }
  if (!best) throw new InputError('task', `no engine does the ${task} task`);
  return best;
}

registerEngine(copyEngine);
registerEngine(bilateralEngine);
