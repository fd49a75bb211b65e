"""Unit tests of the MSN correlation and selection network (vprop_train/msn.py).

    cd training && /usr/bin/python3 -m unittest tests.test_msn -v
"""
from __future__ import annotations

import json
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vprop_train.msn import CORR, SelectionNet, correlation  # noqa: E402
from vprop_train.msn_fixtures import DEFAULT_OUT, build  # noqa: E402

torch.set_num_threads(2)


def brute(a, b, pad, k, md, s1, s2):
    """ANCHORS §5.3 transcribed pixel by pixel."""
    N, C, H, W = a.shape
    kr = (k - 1) // 2
    border = md + kr
    Ho = -(-(H + 2 * pad - 2 * border) // s1)
    Wo = -(-(W + 2 * pad - 2 * border) // s1)
    R = md // s2
    D = 2 * R + 1
    out = torch.zeros(N, D * D, Ho, Wo, dtype=a.dtype)

    def read(t, y, x):
        y, x = y - pad, x - pad
        return t[:, :, y, x] if 0 <= y < H and 0 <= x < W else torch.zeros(N, C, dtype=a.dtype)

    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            for y in range(Ho):
                for x in range(Wo):
                    y1, x1 = y * s1 + border, x * s1 + border
                    s = torch.zeros(N, dtype=a.dtype)
                    for j in range(-kr, kr + 1):
                        for i in range(-kr, kr + 1):
                            s += (read(a, y1 + j, x1 + i) * read(b, y1 + j + dy * s2, x1 + i + dx * s2)).sum(1)
                    out[:, (dy + R) * D + dx + R, y, x] = s / (k * k * C)
    return out


class CorrelationTest(unittest.TestCase):
    def test_matches_the_pixel_loop(self):
        g = torch.Generator().manual_seed(0)
        a, b = torch.randn(2, 3, 4, 6, generator=g), torch.randn(2, 3, 4, 6, generator=g)
        # (pad, kernel, max displacement, stride1, stride2): general path and the network's fast path
        for p in [(2, 1, 2, 1, 1), (3, 3, 2, 1, 2), (4, 3, 3, 2, 1), (10, 1, 10, 1, 2), (4, 1, 4, 1, 2), (0, 1, 1, 1, 1)]:
            with self.subTest(params=p):
                torch.testing.assert_close(correlation(a, b, *p), brute(a, b, *p), atol=1e-6, rtol=1e-5)

    def test_fast_path_gradients(self):
        g = torch.Generator().manual_seed(1)
        a = torch.randn(1, 2, 3, 5, dtype=torch.float64, generator=g, requires_grad=True)
        b = torch.randn(1, 2, 3, 5, dtype=torch.float64, generator=g, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda x, y: correlation(x, y, 4, 1, 4, 1, 2), (a, b)))

    def test_committed_fixture_is_current(self):
        old = json.load(open(DEFAULT_OUT))
        new = build()
        self.assertEqual(len(old["cases"]), len(new["cases"]))
        for o, n in zip(old["cases"], new["cases"]):
            self.assertEqual(o["params"], n["params"])
            self.assertLess(max(abs(x - y) for x, y in zip(o["out"], n["out"])), 1e-6)


class SelectionNetTest(unittest.TestCase):
    def test_shapes_and_candidate_order(self):
        torch.manual_seed(0)
        net = SelectionNet(16).eval()
        f = torch.rand(5, 96, 10, 20)
        t, r = f[:1].expand(5, -1, -1, -1), f[1:2].expand(5, -1, -1, -1)
        logits = net(f, t, r)
        self.assertEqual(tuple(logits.shape), (5, 2))
        # Each candidate is scored on its own: permuting the batch permutes the logits.
        perm = torch.tensor([3, 0, 4, 1, 2])
        torch.testing.assert_close(net(f[perm], t, r), logits[perm])

    def test_correlation_settings(self):
        self.assertEqual(CORR, {"pad": 10, "kernel_size": 1, "max_displacement": 10, "stride1": 1, "stride2": 2})


if __name__ == "__main__":
    unittest.main()
