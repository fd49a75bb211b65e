import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from './helpers/shared.js';

/**
 * The PyTorch side (training/), every `training/tests/test_*.py` found by unittest discovery:
 * GRFP (tests/test_stgru.py: cell equations against a NumPy transcription of ANCHORS §8.1, warp
 * conventions, loader, a short training run, ONNX export) and the SPN scan of STPN
 * (tests/test_spn.py: §4.1 test vectors, a pixel-loop reference, gradcheck, the committed
 * TypeScript fixtures in sync with the code), MSN (tests/test_msn.py), the permutohedral lattice
 * (tests/test_lattice.py), VPN's learned stages (tests/test_vpn.py) and maskprop's propagation network
 * (tests/test_propnet.py). Debian's torch is visible to /usr/bin/python3 only
 * (DESIGN.md), so that interpreter is used; skipped when it lacks torch/onnx.
 */
const PYTHON = process.env.VPROP_PYTHON ?? '/usr/bin/python3';

function torchMissing(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (set VPROP_PYTHON to an interpreter with torch and onnx)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, onnx'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0)
    return `${PYTHON} cannot import torch and onnx (apt-get install python3-torch python3-onnx): ${(r.stderr || '').trim().split('\n').pop()}`;
  return false;
}

test('training/ Python unit tests (unittest)', { skip: torchMissing(), timeout: 120_000 }, () => {
  const r = spawnSync(PYTHON, ['-m', 'unittest', 'discover', '-s', 'tests'], {
    cwd: join(projectRoot, 'training'),
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '2', PYTHONDONTWRITEBYTECODE: '1' },
    timeout: 110_000,
  });
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-25).join('\n');
  assert.equal(r.status, 0, `python -m unittest failed:\n${tail}`);
  assert.match(r.stderr, /\nOK/);
});
