"""Unit tests of the PyTorch permutohedral lattice (vprop_train/lattice.py) and its TypeScript parity fixtures.

    cd training && /usr/bin/python3 -m unittest tests.test_lattice -v
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vprop_train import lattice as L  # noqa: E402
from vprop_train.lattice import (  # noqa: E402
    after_normaliser,
    blur_learned,
    build_lattice,
    filter_after,
    filter_size,
    filter_tap_offsets,
    gaussian_taps,
    js_round,
    lattice_steps,
    lattice_taps,
    slice_points,
    splat,
    vertex_keys,
)
from vprop_train.lattice_fixtures import DEFAULT_OUT, compare, make_fixtures, rounding_sensitive  # noqa: E402

torch.set_num_threads(2)


@functools.lru_cache(maxsize=None)
def fresh_fixtures() -> dict[str, dict]:
    return make_fixtures()


def random_features(d: int, n: int, seed: int, span: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(d, n, generator=g) * span


def math_round(x: float) -> int:
    """JavaScript Math.round: nearest integer, ties toward +inf."""
    r = math.floor(x)
    return r + 1 if x - r >= 0.5 else r


def reference_embedding(f: list[float]) -> tuple[list[list[int]], list[float], list[float]]:
    """ANCHORS §2.1 steps 1-7 for one point in plain Python floats: (full keys per remainder r,
    barycentric weights, elevated). As in the TypeScript op, step 3 multiplies by 1/(d+1) and
    rounds ties up (Math.round), where the reference divides and rounds half away from zero."""
    d = len(f)
    d1 = d + 1
    inv_std = math.sqrt(2 / 3) * d1
    scale = [inv_std / math.sqrt((i + 1) * (i + 2)) for i in range(d)]  # step 1
    el = [0.0] * d1
    sm = 0.0
    for j in range(d, 0, -1):  # step 2
        cf = f[j - 1] * scale[j - 1]
        el[j] = sm - j * cf
        sm += cf
    el[0] = sm
    rem0 = [0] * d1
    total = 0
    for i in range(d1):  # step 3
        rd = math_round(el[i] * (1 / d1))
        rem0[i] = rd * d1
        total += rd
    rank = [0] * d1
    for i in range(d1):  # step 4
        for j in range(i + 1, d1):
            if el[i] - rem0[i] < el[j] - rem0[j]:
                rank[i] += 1
            else:
                rank[j] += 1
    if total != 0:  # step 5
        for i in range(d1):
            rank[i] += total
            if rank[i] < 0:
                rank[i] += d1
                rem0[i] += d1
            elif rank[i] > d:
                rank[i] -= d1
                rem0[i] -= d1
    bary = [0.0] * (d1 + 1)
    for i in range(d1):  # step 6
        v = (el[i] - rem0[i]) * (1 / d1)
        bary[d - rank[i]] += v
        bary[d - rank[i] + 1] -= v
    bary[0] += 1 + bary[d1]
    canonical = [[r if j <= d - r else r - d1 for j in range(d1)] for r in range(d1)]  # step 7
    keys = [[rem0[i] + canonical[r][rank[i]] for i in range(d1)] for r in range(d1)]
    return keys, bary[:d1], el


class EmbeddingTest(unittest.TestCase):
    def test_js_round(self):
        x = torch.tensor([0.49999999999999994, 0.5, -0.5, 1.5, 2.5, -1.5, -2.5, -0.49999999999999994, 3.2, -3.7, 1e15 + 0.5], dtype=torch.float64)
        want = [0, 1, 0, 2, 3, -1, -2, 0, 3, -4, 1e15 + 1]
        self.assertEqual(js_round(x).tolist(), want)
        self.assertEqual([math_round(v) for v in x.tolist()], want)

    def test_matches_plain_python_reference_per_point(self):
        g = torch.Generator().manual_seed(1)
        for d in (1, 2, 4, 6):
            points = (torch.rand(40, d, generator=g) * 20 - 10).tolist() + [[0.0] * d]
            f = torch.tensor(points, dtype=torch.float32)
            lat = build_lattice(f.t())
            for k, p in enumerate(f.double().tolist()):
                keys, bary, _ = reference_embedding(p)
                got = lat.keys[lat.vertex_ids[k] - 1]
                self.assertEqual(got.tolist(), [key[:d] for key in keys], f"d={d} point {k}")
                self.assertTrue(all(sum(key) == 0 for key in keys))
                self.assertEqual(lat.bary[k].tolist(), torch.tensor(bary, dtype=torch.float32).tolist(), f"d={d} point {k}")

    def test_fixture_points_ties_included_match_the_reference(self):
        fx = fresh_fixtures()["lattice.json"]
        for case in fx["cases"]:
            d, n = case["d"], case["nIn"]
            f = torch.tensor(case["inFeatures"], dtype=torch.float32).view(d, n)
            _, rem0, rank, bary = L._embed(f.t().double())
            keys = vertex_keys(rem0, rank)
            for k in range(n):
                ref_keys, ref_bary, _ = reference_embedding(f[:, k].double().tolist())
                self.assertEqual(keys[k].tolist(), ref_keys)
                self.assertLess(max(abs(a - b) for a, b in zip(bary[k].tolist(), ref_bary)), 1e-15)

    def test_invariants(self):
        # ANCHORS §9b: bary >= 0 summing to 1; keys sum to 0, all coordinates of the remainder-r
        # vertex are congruent to r mod d+1; sum_r bary_r vertex_r reproduces the elevated point
        for d in (1, 2, 4, 6):
            f = random_features(d, 800, seed=d, span=25.0)
            el, rem0, rank, bary = L._embed(f.t().double())
            keys = vertex_keys(rem0, rank)
            self.assertTrue(bool((bary >= 0).all()))
            self.assertLess(float((bary.sum(1) - 1).abs().max()), 1e-12)
            self.assertTrue(bool((keys.sum(2) == 0).all()))
            r = torch.arange(d + 1)[None, :, None]
            self.assertTrue(bool(((keys - r) % (d + 1) == 0).all()))
            recon = (bary[:, :, None] * keys.double()).sum(1)
            self.assertLess(float((recon - el).abs().max()), 1e-9)
            self.assertTrue(torch.equal(torch.sort(rank, 1).values, torch.arange(d + 1).expand_as(rank)))

    def test_lattice_layout(self):
        fin, fout = random_features(4, 300, 3), random_features(4, 120, 4)
        lat = build_lattice(fin, fout)
        self.assertEqual((lat.d, lat.n_in, lat.n_out, lat.n_points, lat.out_start), (4, 300, 120, 420, 300))
        self.assertEqual(tuple(lat.vertex_ids.shape), (420, 5))
        self.assertEqual(lat.bary.dtype, torch.float32)
        self.assertEqual(int(lat.vertex_ids.min()), 1)
        self.assertEqual(int(lat.vertex_ids.max()), lat.M)
        self.assertEqual(len(set(map(tuple, lat.keys.tolist()))), lat.M)
        self.assertEqual(set(lat.vertex_ids.reshape(-1).tolist()), set(range(1, lat.M + 1)))
        self.assertLess(float((lat.bary.sum(1) - 1).abs().max()), 1e-6)
        shared = build_lattice(fin)
        self.assertEqual((shared.n_out, shared.n_points, shared.out_start), (300, 300, 0))
        self.assertTrue(torch.equal(shared.bary, lat.bary[:300]))

    def test_vertex_order_is_sorted_keys_on_both_lookup_paths(self):
        # coordinate ranges too wide to pack into 63 bits use torch.unique(dim=0) ranks instead
        for span, packed in ((3.0, True), (2e6, False)):
            f = random_features(6, 200, 5, span)
            rows = vertex_keys(*L._embed(f.t().double())[1:3])[:, :, :6].reshape(-1, 6)
            self.assertEqual(math.prod((rows.max(0).values - rows.min(0).values + 1).tolist()) < 2**62, packed)
            lat = build_lattice(f)
            self.assertEqual(lat.keys.tolist(), [list(k) for k in sorted(set(map(tuple, rows.tolist())))])
            self.assertTrue(torch.equal(lat.keys[lat.vertex_ids.reshape(-1) - 1], rows))
            steps = lattice_steps(lat)
            index = key_index(lat)
            for v, key in list(enumerate(lat.keys.tolist(), start=1))[:50]:
                for j in range(7):
                    plus = tuple(c - 1 + (7 if i == j else 0) for i, c in enumerate(key))
                    self.assertEqual(int(steps[j, 0, v]), index.get(plus, 0))

    def test_unique_inverse(self):
        g = torch.Generator().manual_seed(8)
        for codes in (torch.randint(-50, 50, (300,), generator=g), torch.zeros(0, dtype=torch.int64), torch.tensor([7])):
            want = torch.unique(codes, return_inverse=True)
            got = L._unique_inverse(codes)
            self.assertTrue(torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]))

    def test_bad_input(self):
        f = random_features(3, 10, 6)
        for bad in (float("nan"), float("inf"), 1e12):
            g = f.clone()
            g[1, 4] = bad
            with self.assertRaisesRegex(ValueError, "input point 4 "):
                build_lattice(g)
            with self.assertRaisesRegex(ValueError, "output point 4 "):
                build_lattice(f, g)
        with self.assertRaises(ValueError):
            build_lattice(f, random_features(2, 5, 7))
        lat = build_lattice(f)
        with self.assertRaises(ValueError):
            splat(lat, torch.zeros(2, 9))
        with self.assertRaises(ValueError):
            blur_learned(lat, torch.zeros(lat.M + 1, 2), torch.zeros(2, 2, 3), 1)
        with self.assertRaises(ValueError):
            filter_after(lat, torch.zeros(2, 10), None, 1)


def key_index(lat) -> dict[tuple, int]:
    return {tuple(k): v + 1 for v, k in enumerate(lat.keys.tolist())}


class NeighbourTest(unittest.TestCase):
    def test_filter_size_and_tap_order(self):
        self.assertEqual([filter_size(0, 6), filter_size(1, 4), filter_size(1, 6), filter_size(2, 6)], [1, 31, 127, 2059])
        for n, d in ((0, 3), (1, 2), (1, 4), (2, 2), (3, 1)):
            want = [list(a) for a in itertools.product(range(n + 1), repeat=d + 1) if 0 in a]
            self.assertEqual(filter_tap_offsets(n, d).tolist(), want)

    def test_steps_against_a_dictionary(self):
        for d, span in ((2, 4.0), (4, 3.0), (6, 2.0)):
            lat = build_lattice(random_features(d, 150, 10 + d, span))
            steps = lattice_steps(lat)
            self.assertEqual(tuple(steps.shape), (d + 1, 2, lat.M + 1))
            self.assertTrue(bool((steps[:, :, 0] == 0).all()))
            index = key_index(lat)
            found = 0
            for v, key in enumerate(lat.keys.tolist(), start=1):
                for j in range(d + 1):
                    plus = tuple(c - 1 + (d + 1 if i == j else 0) for i, c in enumerate(key))
                    minus = tuple(c + 1 - (d + 1 if i == j else 0) for i, c in enumerate(key))
                    self.assertEqual(int(steps[j, 0, v]), index.get(plus, 0))
                    self.assertEqual(int(steps[j, 1, v]), index.get(minus, 0))
                    found += plus in index
            self.assertGreater(found, lat.M // 4)  # the dense cases really have neighbours
            self.assertIs(lattice_steps(lat), steps)  # memoised

    def test_taps_against_a_walk(self):
        for d, n in ((2, 2), (3, 1), (4, 1)):
            lat = build_lattice(random_features(d, 120, 20 + d, 3.0))
            taps = lattice_taps(lat, n)
            offsets = filter_tap_offsets(n, d).tolist()
            self.assertEqual(tuple(taps.shape), (lat.M + 1, len(offsets)))
            self.assertTrue(bool((taps[0] == 0).all()))
            index = key_index(lat)
            keys = lat.keys.tolist()
            for v in range(1, lat.M + 1):
                for t, a in enumerate(offsets):
                    slot = v
                    for j in range(d + 1):
                        for _ in range(a[j]):
                            if slot:
                                key = keys[slot - 1]
                                slot = index.get(tuple(c - 1 + (d + 1 if i == j else 0) for i, c in enumerate(key)), 0)
                    self.assertEqual(int(taps[v, t]), slot)
            self.assertTrue(torch.equal(lattice_taps(lat, 0)[:, 0], torch.arange(lat.M + 1)))

    def test_gaussian_taps(self):
        self.assertEqual(gaussian_taps(4, 0).tolist(), [1.0])
        g = gaussian_taps(2, 1)
        self.assertEqual(len(g), 7)
        self.assertEqual(float(g[0]), 1.0)
        self.assertTrue(bool((g > 0).all()) and bool((g <= 1).all()))


class FilterTest(unittest.TestCase):
    def setUp(self):
        self.fin, self.fout = random_features(3, 40, 30, 2.5), random_features(3, 25, 31, 2.5)
        self.fout[:, :3] += 50  # outputs no input reaches

    def test_splat_slice_and_normaliser(self):
        lat = build_lattice(self.fin, self.fout)
        S = splat(lat, torch.ones(1, 40))
        self.assertEqual(float(S[0, 0]), 0.0)
        self.assertAlmostEqual(float(S.sum()), 40.0, places=4)
        # adjointness: <splat x, V> = <x, slice at the inputs V>
        x, V = torch.randn(2, 40, dtype=torch.float64), torch.randn(lat.M + 1, 2, dtype=torch.float64)
        V[0] = 0
        lhs = (splat(lat, x) * V).sum()
        rhs = (x * L._slice_range(lat, 0, 40, V)).sum()
        self.assertLess(abs(float(lhs - rhs)), 1e-10)
        norm = after_normaliser(lat)
        self.assertTrue(bool((norm[:3] == 1e20).all()))
        # constant in, constant out where reached (ANCHORS §9b), 0 where not
        y = filter_after(lat, torch.full((2, 40), 0.75))
        reached = norm < 1e19
        self.assertLess(float((y[:, reached] - 0.75).abs().max()), 1e-5)
        self.assertTrue(bool((y[:, ~reached] == 0).all()))
        W = torch.randn(3, 2, 1)
        yw = filter_after(lat, torch.full((2, 40), 0.75), W)
        self.assertLess(float((yw[:, reached] - 0.75 * W[:, :, 0].sum(1, keepdim=True)).abs().max()), 1e-5)

    def test_blur_matches_a_loop_and_chunking(self):
        lat = build_lattice(self.fin, self.fout)
        S = torch.randn(lat.M + 1, 2, dtype=torch.float64)
        for n in (0, 1, 2):
            W = torch.randn(3, 2, filter_size(n, 3), dtype=torch.float64)
            B = blur_learned(lat, S, W, n)
            taps = lattice_taps(lat, n)
            ref = torch.zeros(lat.M + 1, 3, dtype=torch.float64)
            for v in range(1, lat.M + 1):
                for t in range(taps.shape[1]):
                    if taps[v, t]:
                        ref[v] += W[:, :, t] @ S[taps[v, t]]
            self.assertLess(float((B - ref).abs().max()), 1e-12, f"n={n}")
            saved = L.TAP_CHUNK_ELEMENTS
            try:
                L.TAP_CHUNK_ELEMENTS = 3 * (lat.M + 1) * 2  # 3 taps per chunk
                self.assertLess(float((blur_learned(lat, S, W, n) - ref).abs().max()), 1e-12)
            finally:
                L.TAP_CHUNK_ELEMENTS = saved

    def test_point_side_mixing_equals_the_vertex_blur(self):
        # filter_after with n = 0 mixes channels at the points (fewer channels side)
        lat = build_lattice(self.fin, self.fout)
        x = torch.randn(3, 40, dtype=torch.float64)
        norm = after_normaliser(lat, 0, torch.float64)
        for O in (2, 3, 5):
            W = torch.randn(O, 3, 1, dtype=torch.float64)
            ref = slice_points(lat, blur_learned(lat, splat(lat, x), W, 0)) * norm
            self.assertLess(float((filter_after(lat, x, W) - ref).abs().max()), 1e-12, f"O={O}")

    def test_channel_mix_conv_path(self):
        g = torch.Generator().manual_seed(33)
        A, Wm = torch.randn(5000, 64, generator=g), torch.randn(32, 64, generator=g)
        ref = A.double() @ Wm.double().t()
        for a in (A, A.t().contiguous().t()):  # contiguous, and a transposed view the conv copies
            self.assertLess(float((L._channel_mix(a, Wm).double() - ref).abs().max()), 1e-4)

    def test_gradcheck_float64(self):
        fin, fout = self.fin[:, :16], self.fout[:, :10]
        fout[:, 1:6] = fin[:, 1:6] + 0.2  # most outputs near inputs; 3 unreached
        for shared in (False, True):
            lat = build_lattice(fin, None if shared else fout)
            g = torch.Generator().manual_seed(32)
            x = torch.randn(2, 16, generator=g, dtype=torch.float64, requires_grad=True)
            if shared:
                self.assertTrue(torch.autograd.gradcheck(lambda a: filter_after(lat, a), (x,)))
            for n in (0, 1):
                W = torch.randn(2, 2, filter_size(n, 3), generator=g, dtype=torch.float64, requires_grad=True)
                norm = after_normaliser(lat, n, torch.float64)
                self.assertTrue(torch.autograd.gradcheck(lambda a, w: filter_after(lat, a, w, n, norm), (x, W)), f"n={n} shared={shared}")


class FixtureTest(unittest.TestCase):
    def test_committed_typescript_fixtures_match_this_code(self):
        fresh = fresh_fixtures()
        for name, data in fresh.items():
            path = os.path.join(DEFAULT_OUT, name)
            self.assertTrue(os.path.exists(path), f"{path} missing: run python3 -m vprop_train.lattice_fixtures")
            with open(path) as f:
                committed = json.load(f)
            bad = compare(committed, data)
            self.assertEqual(bad[:5], [], f"{name} is stale: regenerate with python3 -m vprop_train.lattice_fixtures")
            self.assertLess(os.path.getsize(path), 200_000)
        for case in committed["cases"]:
            # the TypeScript test would notice another rounding rule at ties: it changes keys
            d, n = case["d"], case["nIn"]
            f = torch.tensor(case["inFeatures"], dtype=torch.float32).view(d, n)
            for rule, points in rounding_sensitive(f).items():
                self.assertGreaterEqual(points, 2, f"{case['name']}: {rule}")


if __name__ == "__main__":
    unittest.main()
