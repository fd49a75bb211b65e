"""Unit tests of the PyTorch SPN scan (vprop_train/spn.py) and its TypeScript parity fixtures.

    cd training && /usr/bin/python3 -m unittest tests.test_spn -v
"""
from __future__ import annotations

import json
import os
import sys
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vprop_train.spn import (  # noqa: E402
    DIRECTIONS,
    IMPLS,
    direction_gates,
    normalise_gates,
    propagate4,
    reverse_direction,
    scan3,
    swap_gate_directions,
)
from vprop_train.spn_fixtures import DEFAULT_OUT, compare, make_fixtures  # noqa: E402

torch.set_num_threads(2)

# neighbour offsets (dy, dx) of G1, G2, G3, written out from ANCHORS §4.1
OFFSETS = {
    "left-right": [(-1, -1), (0, -1), (1, -1)],
    "right-left": [(-1, 1), (0, 1), (1, 1)],
    "top-bottom": [(-1, -1), (-1, 0), (-1, 1)],
    "bottom-top": [(1, -1), (1, 0), (1, 1)],
}
SHAPES = [(2, 1, 1, 1), (1, 1, 1, 6), (2, 2, 5, 1), (1, 1, 2, 2), (2, 3, 5, 8), (1, 2, 9, 4), (2, 2, 6, 6)]


def reference_scan(x: np.ndarray, g: list[np.ndarray], direction: str) -> np.ndarray:
    """§4.1 pixel by pixel in image coordinates (float64), independent of spn.py's canonical layout."""
    N, C, H, W = x.shape
    key = {"left-right": lambda y, w: w, "right-left": lambda y, w: -w, "top-bottom": lambda y, w: y, "bottom-top": lambda y, w: -y}[direction]
    order = sorted(((y, w) for y in range(H) for w in range(W)), key=lambda p: key(*p))
    h = np.zeros_like(x, dtype=np.float64)
    for y, w in order:
        acc = np.zeros((N, C))
        gsum = np.zeros((N, C))
        for k, (dy, dx) in enumerate(OFFSETS[direction]):
            ny, nx = y + dy, w + dx
            if 0 <= ny < H and 0 <= nx < W:  # border rule: off-image gates count as 0
                gsum += g[k][:, :, y, w]
                acc += g[k][:, :, y, w] * h[:, :, ny, nx]
        h[:, :, y, w] = (1 - gsum) * x[:, :, y, w] + acc
    return h


def stable_gates(shape, gen: torch.Generator, total: float = 1.0, dtype=torch.float64) -> list[torch.Tensor]:
    """Three signed gate maps with sum |g| <= total per element."""
    r = torch.rand(3, *shape, generator=gen, dtype=dtype) * 2 - 1
    scale = total * torch.rand(*shape, generator=gen, dtype=dtype) / r.abs().sum(0).clamp(min=1e-9)
    return [r[k] * scale for k in range(3)]


class VectorTest(unittest.TestCase):
    """ANCHORS §4.1 test vectors, both implementations, every direction."""

    def test_zero_gates_give_identity(self):
        g = torch.Generator().manual_seed(1)
        for shape in SHAPES:
            x = torch.randn(*shape, generator=g)
            z = torch.zeros(shape)
            for impl in IMPLS:
                for d in DIRECTIONS:
                    self.assertTrue(torch.equal(scan3(x, z, z, z, d, impl=impl), x), f"{impl} {d} {shape}")

    def test_g2_one_copies_the_first_line(self):
        g = torch.Generator().manual_seed(2)
        x = torch.randn(2, 2, 5, 7, generator=g)
        z, one = torch.zeros_like(x), torch.ones_like(x)
        for impl in IMPLS:
            self.assertTrue(torch.equal(scan3(x, z, one, z, "left-right", impl=impl), x[:, :, :, :1].expand_as(x)))
            self.assertTrue(torch.equal(scan3(x, z, one, z, "right-left", impl=impl), x[:, :, :, -1:].expand_as(x)))
            self.assertTrue(torch.equal(scan3(x, z, one, z, "top-bottom", impl=impl), x[:, :, :1].expand_as(x)))
            self.assertTrue(torch.equal(scan3(x, z, one, z, "bottom-top", impl=impl), x[:, :, -1:].expand_as(x)))

    def test_constant_x_is_kept_for_stable_gates(self):
        g = torch.Generator().manual_seed(3)
        for shape in SHAPES:
            x = torch.full(shape, 0.75, dtype=torch.float64)
            gs = stable_gates(shape, g)
            for impl in IMPLS:
                for d in DIRECTIONS:
                    self.assertLess(float((scan3(x, *gs, d, impl=impl) - x).abs().max()), 1e-12)


class ScanTest(unittest.TestCase):
    def test_matches_reference_every_direction_and_shape(self):
        g = torch.Generator().manual_seed(4)
        for shape in SHAPES:
            x = torch.randn(*shape, generator=g, dtype=torch.float64)
            gs = stable_gates(shape, g)
            for d in DIRECTIONS:
                ref = reference_scan(x.numpy(), [t.numpy() for t in gs], d)
                for impl in IMPLS:
                    got = scan3(x, *gs, d, impl=impl).numpy()
                    self.assertLess(float(np.abs(got - ref).max()), 1e-12, f"{impl} {d} {shape}")

    def test_implementations_agree_on_values_and_gradients(self):
        g = torch.Generator().manual_seed(5)
        x = torch.randn(2, 3, 6, 9, generator=g, dtype=torch.float64)
        gates = torch.randn(2, 36, 6, 9, generator=g, dtype=torch.float64) * 0.7
        r = torch.randn(2, 3, 6, 9, generator=g, dtype=torch.float64)
        res = {}
        for impl in IMPLS:
            xl, gl = x.clone().requires_grad_(), gates.clone().requires_grad_()
            out = propagate4(xl, gl, impl=impl)
            (out * r).sum().backward()
            res[impl] = (out.detach(), xl.grad, gl.grad)
        for a, b in zip(res["function"], res["autograd"]):
            self.assertLess(float((a - b).abs().max()), 1e-12)

    def test_gradcheck_scan3_float64(self):
        g = torch.Generator().manual_seed(6)
        for shape in [(2, 2, 4, 5), (1, 1, 1, 4), (1, 2, 3, 1)]:
            x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
            gs = [t.requires_grad_() for t in stable_gates(shape, g)]
            for impl in IMPLS:
                for d in DIRECTIONS:
                    self.assertTrue(torch.autograd.gradcheck(lambda *a: scan3(*a, d, impl=impl), (x, *gs)), f"{impl} {d} {shape}")

    def test_gradcheck_propagate4_float64(self):
        # raw gates beyond the stable range: the normalisation's gradient is checked too; the random
        # draw has no near-ties between directions, where the max is not differentiable
        g = torch.Generator().manual_seed(7)
        for shape in [(2, 2, 4, 5), (1, 1, 5, 5)]:
            N, C, H, W = shape
            x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
            gates = (torch.randn(N, 12 * C, H, W, generator=g, dtype=torch.float64) * 0.8).requires_grad_()
            for impl in IMPLS:
                self.assertTrue(torch.autograd.gradcheck(lambda a, b: propagate4(a, b, impl=impl), (x, gates)), f"{impl} {shape}")

    def test_batch_elements_are_independent(self):
        # directions with equal canonical shapes are scanned together, concatenated along N
        g = torch.Generator().manual_seed(8)
        for H, W in [(6, 6), (4, 7)]:
            x = torch.randn(3, 2, H, W, generator=g)
            gates = torch.randn(3, 24, H, W, generator=g) * 0.6
            whole = propagate4(x, gates)
            for n in range(3):
                self.assertTrue(torch.allclose(whole[n : n + 1], propagate4(x[n : n + 1], gates[n : n + 1]), atol=0, rtol=0))

    def test_bad_arguments(self):
        x = torch.zeros(1, 2, 3, 4)
        with self.assertRaises(ValueError):
            scan3(x, x, x, x, "diagonal")
        with self.assertRaises(ValueError):
            scan3(x, x, x, torch.zeros(1, 2, 3, 5), "left-right")
        with self.assertRaises(ValueError):
            propagate4(x, torch.zeros(1, 23, 3, 4))
        with self.assertRaises(ValueError):
            normalise_gates(torch.zeros(1, 7, 3, 4), 2)


class NormaliseTest(unittest.TestCase):
    def test_values(self):
        gates = torch.zeros(1, 12, 1, 3)
        gates[0, 0:3, 0, 0] = torch.tensor([0.25, -0.25, 0.25])  # s = 0.75: unchanged
        gates[0, 0:3, 0, 1] = torch.tensor([1.0, -0.5, 0.5])  # s = 2: halved
        gates[0, 6:9, 0, 1] = torch.tensor([0.0, 0.0, -3.0])  # top->bottom, s = 3
        n = normalise_gates(gates, 1)
        self.assertEqual(n[0, 0:3, 0, 0].tolist(), [0.25, -0.25, 0.25])
        self.assertEqual(n[0, 0:3, 0, 1].tolist(), [0.5, -0.25, 0.25])
        self.assertEqual(n[0, 6:9, 0, 1].tolist(), [0.0, 0.0, -1.0])
        self.assertTrue(torch.equal(n[0, 3:6], torch.zeros(3, 1, 3)))

    def test_gradient_is_finite_at_zero_gates(self):
        x = torch.randn(1, 2, 3, 3)
        for impl in IMPLS:
            gates = torch.zeros(1, 24, 3, 3, requires_grad=True)
            propagate4(x, gates, impl=impl).sum().backward()
            self.assertTrue(torch.isfinite(gates.grad).all(), impl)


class MergeAndSwitchTest(unittest.TestCase):
    def test_max_merge_and_ties(self):
        g = torch.Generator().manual_seed(9)
        x = torch.randn(1, 2, 4, 5, generator=g)
        xl = x.clone().requires_grad_()
        out, winner = propagate4(xl, torch.zeros(1, 24, 4, 5), return_winner=True)
        self.assertTrue(torch.equal(out, x))
        self.assertTrue(torch.equal(winner, torch.zeros_like(winner)))  # four-way tie: left->right
        r = torch.randn(1, 2, 4, 5, generator=g)
        (out * r).sum().backward()
        self.assertTrue(torch.equal(xl.grad, r))  # all the gradient through one direction, none lost or doubled
        gates = torch.randn(1, 24, 4, 5, generator=g) * 0.7
        ng = normalise_gates(gates, 2)
        hs = torch.stack([scan3(x, *direction_gates(ng, 2, d), d) for d in DIRECTIONS])
        out, winner = propagate4(x, gates, return_winner=True)
        self.assertTrue(torch.equal(out, hs.max(0).values))
        self.assertTrue(torch.equal(hs.gather(0, winner[None])[0], out))

    def test_swap_runs_each_direction_backwards_with_the_same_maps(self):
        g = torch.Generator().manual_seed(10)
        x = torch.randn(1, 2, 5, 6, generator=g, dtype=torch.float64)
        gates = torch.randn(1, 24, 5, 6, generator=g, dtype=torch.float64) * 0.6
        s = swap_gate_directions(gates, 2)
        self.assertTrue(torch.equal(swap_gate_directions(s, 2), gates))
        for d in DIRECTIONS:
            for a, b in zip(direction_gates(s, 2, d), direction_gates(gates, 2, reverse_direction(d))):
                self.assertTrue(torch.equal(a, b))
        ng = normalise_gates(gates, 2)
        expected = torch.stack([scan3(x, *direction_gates(ng, 2, d), reverse_direction(d)) for d in DIRECTIONS]).max(0).values
        self.assertLess(float((propagate4(x, s) - expected).abs().max()), 1e-12)


class FixtureTest(unittest.TestCase):
    def test_committed_typescript_fixtures_match_this_code(self):
        fresh = make_fixtures()
        for name, data in fresh.items():
            path = os.path.join(DEFAULT_OUT, name)
            self.assertTrue(os.path.exists(path), f"{path} missing: run python3 -m vprop_train.spn_fixtures")
            with open(path) as f:
                bad = compare(json.load(f), data)
            self.assertEqual(bad[:5], [], f"{name} is stale: regenerate with python3 -m vprop_train.spn_fixtures")


if __name__ == "__main__":
    unittest.main()
