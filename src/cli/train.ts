/**
 * `vprop train grfp|stpn|msn|vpn|propnet`: trains the GRFP STGRU models (training/scripts/train-all.sh), the STPN
 * models (training/scripts/train-stpn.sh), the MSN selectors (training/scripts/train-msn.sh), the
 * learned VPN stages (training/scripts/train-vpn.sh) or maskprop's propagation network
 * (training/scripts/train-propnet.sh) with PyTorch (training/, a repository checkout is
 * needed): dump the training data from the TypeScript side (resumable), train each model
 * (resumable from its last checkpoint), export ONNX into src/models/weights (bundled) or
 * training/models (DAVIS fold models), write parity fixtures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../core/errors.js';

export const GRFP_TARGETS = [
  'data',
  'init',
  'labels-exact',
  'labels-shared',
  'masks-synth',
  'masks-davis-foldA',
  'masks-davis-foldB',
  'masks-davis-bilateral-foldA',
  'masks-davis-bilateral-foldB',
  'masks',
  'fixtures',
] as const;

export const STPN_TARGETS = [
  'data',
  'color-foldA',
  'color-foldB',
  'btpn-color-foldA',
  'btpn-color-foldB',
  'color',
  'hdr',
  'mask-foldA',
  'mask-foldB',
  'mask',
] as const;

export const MSN_TARGETS = [
  'data',
  'mask-foldA',
  'mask-foldB',
  'mask',
  'mask-maskprop-foldA',
  'mask-maskprop-foldB',
  'color-data',
  'color-foldA',
  'color-foldB',
  'color',
] as const;

export const VPN_TARGETS = [
  'data',
  'identity',
  'mask-foldA',
  'mask-foldB',
  'per-frame-data',
  'mask-pf-foldA',
  'mask-pf-foldB',
  'color-data',
  'color-foldA',
  'color-foldB',
  'mask',
  'color',
] as const;

export const PROPNET_TARGETS = ['data', 'init', 'foldA', 'foldB', 'bundled'] as const;

const METHODS: Record<string, { targets: readonly string[]; script: string; defaultSteps: number }> = {
  grfp: { targets: GRFP_TARGETS, script: 'train-all.sh', defaultSteps: 1000 },
  stpn: { targets: STPN_TARGETS, script: 'train-stpn.sh', defaultSteps: 3000 },
  msn: { targets: MSN_TARGETS, script: 'train-msn.sh', defaultSteps: 800 },
  vpn: { targets: VPN_TARGETS, script: 'train-vpn.sh', defaultSteps: 500 },
  propnet: { targets: PROPNET_TARGETS, script: 'train-propnet.sh', defaultSteps: 2500 },
};

export interface TrainCliOptions {
  /** What to train: 'grfp', 'stpn', 'msn', 'vpn' or 'propnet'. */
  method?: string;
  /** Comma-separated targets (default: all, in the order of GRFP_TARGETS / STPN_TARGETS). */
  models?: string;
  /** Training steps per model (default 1000 for grfp, 3000 for stpn, 800 for msn, 500 for vpn, 2500 for propnet). */
  steps?: number | string;
  /** Python with torch and onnx (default $VPROP_PYTHON or /usr/bin/python3). */
  python?: string;
  /** nice level of the data dump and training processes (default 10). */
  nice?: number | string;
  /** Print the plan and exit. */
  dryRun?: boolean;
}

function findRepoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'training', 'scripts', 'train-all.sh'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

export async function runTrain(o: TrainCliOptions = {}): Promise<number> {
  const method = o.method ?? 'grfp';
  const spec = METHODS[method];
  if (!spec) throw new InputError('vprop train', `unknown method "${method}" (available: ${Object.keys(METHODS).join(', ')})`);
  const root = findRepoRoot();
  if (!root) throw new InputError('vprop train', 'training/ is not here: training needs a checkout of the vprop repository');
  const targets = (o.models ?? spec.targets.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const t of targets) {
    if (!spec.targets.includes(t)) throw new InputError('--models', `unknown target "${t}" (${spec.targets.join(', ')})`);
  }
  const steps = String(o.steps ?? spec.defaultSteps);
  if (!/^\d+$/.test(steps) || Number(steps) < 1) throw new InputError('--steps', `must be a positive integer, got "${steps}"`);
  const python = resolve(o.python ?? process.env.VPROP_PYTHON ?? '/usr/bin/python3');
  const script = join(root, 'training', 'scripts', spec.script);
  process.stdout.write(`vprop train ${method}: ${targets.join(' → ')} (${steps} steps per model, ${python})\n`);
  if (o.dryRun) {
    process.stdout.write(`would run: STEPS=${steps} VPROP_PYTHON=${python} ${script} ${targets.join(' ')}\n`);
    return 0;
  }
  if (targets.some((t) => t !== 'data')) {
    const check = spawnSync(python, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
    if (check.status !== 0) {
      throw new InputError(
        python,
        `cannot import torch and onnx (on Debian: apt-get install python3-torch python3-onnx; or pass --python): ${(check.stderr || String(check.error ?? '')).trim().split('\n').pop()}`,
      );
    }
  }
  const child = spawn('bash', [script, ...targets], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, STEPS: steps, VPROP_PYTHON: python, NICE_LEVEL: String(o.nice ?? 10) },
  });
  return await new Promise<number>((res) => {
    child.on('error', (err) => {
      process.stderr.write(`vprop train: cannot run ${script}: ${err.message}\n`);
      res(1);
    });
    child.on('close', (code, signal) => res(code ?? (signal ? 130 : 1)));
  });
}
