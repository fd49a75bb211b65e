"""Unit tests of the STGRU cells, the warp, the data loader and a training smoke run.

    cd training && /usr/bin/python3 -m unittest discover -s tests -v
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vprop_train.data import open_set, sample_batch  # noqa: E402
from vprop_train.export import export_onnx, load_onnx_cell, make_fixture  # noqa: E402
from vprop_train.stgru import SharedSTGRUCell, STGRUCell, run_clip, warp, warp_exact  # noqa: E402

torch.set_num_threads(2)


def conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Plain SAME cross-correlation, x (Cin,H,W), w (Cout,Cin,k,k) -> (Cout,H,W), float64."""
    cout, cin, k, _ = w.shape
    p = k // 2
    _, H, W = x.shape
    xp = np.zeros((cin, H + 2 * p, W + 2 * p))
    xp[:, p : p + H, p : p + W] = x
    out = np.zeros((cout, H, W))
    for o in range(cout):
        for i in range(cin):
            for dy in range(k):
                for dx in range(k):
                    out[o] += w[o, i, dy, dx] * xp[i, dy : dy + H, dx : dx + W]
    return out


def reference_cell(cell: STGRUCell, image, prev_w, h_w, x):
    """ANCHORS §8.1 steps 1-7 written out in NumPy from the cell's parameters."""
    P = {k: v.detach().double().numpy() for k, v in cell.named_parameters()}
    C = cell.classes
    e = image - prev_w
    r = 1 - np.tanh(np.abs(conv_same(e, P["W_ir"]) + P["b_r"][0]))
    ex = np.exp(x - x.max(0, keepdims=True))
    xc = ex / ex.sum(0, keepdims=True) - 1.0 / C
    hw = h_w * r
    ht = conv_same(xc, P["W_xh"]) + conv_same(hw, P["W_hh"])
    z = 1 / (1 + np.exp(-(conv_same(xc, P["W_xz"]) + conv_same(hw, P["W_hz"]) + P["b_z"].reshape(C, 1, 1))))
    return P["lam"] * (1 - z) * hw + z * ht, r


def random_inputs(C, H, W, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, H, W, generator=g) * 255
    prev = (image + torch.randn(1, 3, H, W, generator=g) * 30).clamp(0, 255)
    p = torch.softmax(torch.randn(1, C, H, W, generator=g) * 2, dim=1)
    x = torch.randn(1, C, H, W, generator=g) * 2
    return image, prev, p - 1.0 / C, x


class InitialisationTest(unittest.TestCase):
    def test_exact_cell_initialisation_follows_anchors(self):
        cell = STGRUCell(5, seed=3)
        self.assertEqual(float(cell.lam), 2.0)
        self.assertTrue(torch.all(cell.b_r == 0) and torch.all(cell.b_z == 0))
        self.assertEqual(tuple(cell.b_z.shape), (5,))
        for W in (cell.W_xh, cell.W_hh):
            centre = W[:, :, 3, 3]
            self.assertTrue(torch.allclose(torch.diagonal(centre), torch.full((5,), 6.0), atol=0.05))
            off = W.detach().clone()
            for c in range(5):
                off[c, c, 3, 3] -= 6.0
            self.assertLess(float(off.std()), 0.02)
        self.assertLess(float(cell.W_ir.std()), 0.003)
        self.assertEqual(tuple(cell.W_ir.shape), (1, 3, 7, 7))
        self.assertEqual(tuple(cell.W_xz.shape), (1, 5, 7, 7))

    def test_shared_cell_initialisation(self):
        cell = SharedSTGRUCell(seed=1)
        self.assertEqual(tuple(cell.W.shape), (2, 2, 7, 7))
        self.assertAlmostEqual(float(cell.W[0, 0, 3, 3]), 6.0, delta=0.05)
        self.assertAlmostEqual(float(cell.W[0, 1, 3, 3]), 6.0, delta=0.05)
        self.assertEqual(float(cell.lam), 2.0)


class CellTest(unittest.TestCase):
    def test_exact_cell_matches_numpy_reference(self):
        C, H, W = 3, 9, 10
        cell = STGRUCell(C, seed=2)
        with torch.no_grad():  # make z and the biases non-trivial
            cell.b_z.copy_(torch.tensor([0.5, -0.3, 0.1]))
            cell.b_r.fill_(0.2)
            cell.W_xz.mul_(30)
            cell.W_hz.mul_(30)
            cell.lam.fill_(1.7)
        inputs = random_inputs(C, H, W)
        with torch.no_grad():
            h, r = cell(*inputs)
        ref_h, ref_r = reference_cell(cell, *(t[0].double().numpy() for t in inputs))
        np.testing.assert_allclose(h[0].numpy(), ref_h, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(r[0].numpy(), ref_r, rtol=1e-5, atol=1e-5)

    def test_reset_gate_is_one_for_a_perfect_warp_and_drops_with_error(self):
        cell = STGRUCell(2)
        image, _, hw, x = random_inputs(2, 8, 8)
        with torch.no_grad():
            cell.W_ir.fill_(0.01)
            _, r_same = cell(image, image.clone(), hw, x)
            _, r_diff = cell(image, image * 0.2, hw, x)
        self.assertTrue(torch.allclose(r_same, torch.ones_like(r_same)))
        self.assertLess(float(r_diff.mean()), 0.5)

    def test_shared_cell_is_channel_agnostic(self):
        cell = SharedSTGRUCell(background_bias=True, seed=4)
        with torch.no_grad():
            cell.b_bg.fill_(0.7)
            cell.b_obj.fill_(-0.4)
        for C in (2, 3, 6):
            inputs = random_inputs(C, 7, 8, seed=C)
            with torch.no_grad():
                h, _ = cell(*inputs)
            self.assertEqual(tuple(h.shape), (1, C, 7, 8))
        # Permuting the object channels (1..C-1) permutes the output the same way.
        image, prev, hw, x = random_inputs(4, 7, 8, seed=9)
        perm = [0, 3, 1, 2]
        with torch.no_grad():
            h, _ = cell(image, prev, hw, x)
            hp, _ = cell(image, prev, hw[:, perm], x[:, perm])
        torch.testing.assert_close(hp, h[:, perm], rtol=1e-5, atol=1e-5)

    def test_shared_cell_without_background_bias_is_fully_symmetric(self):
        cell = SharedSTGRUCell(background_bias=False, seed=4)
        image, prev, hw, x = random_inputs(3, 6, 6, seed=2)
        perm = [2, 0, 1]
        with torch.no_grad():
            h, _ = cell(image, prev, hw, x)
            hp, _ = cell(image, prev, hw[:, perm], x[:, perm])
        torch.testing.assert_close(hp, h[:, perm], rtol=1e-5, atol=1e-5)


class WarpTest(unittest.TestCase):
    def test_grid_sample_warp_equals_gather_reference(self):
        g = torch.Generator().manual_seed(0)
        src = torch.randn(2, 3, 11, 13, generator=g)
        flow = torch.randn(2, 2, 11, 13, generator=g) * 4
        torch.testing.assert_close(warp(src, flow), warp_exact(src, flow), rtol=1e-4, atol=1e-4)

    def test_warp_conventions(self):
        # channel 0 = dy: out(y, x) = src(y + 1, x); zeros beyond the border, no renormalisation.
        src = torch.arange(20, dtype=torch.float32).view(1, 1, 4, 5)
        flow = torch.zeros(1, 2, 4, 5)
        flow[:, 0] = 1
        out = warp(src, flow)
        torch.testing.assert_close(out[0, 0, :3], src[0, 0, 1:])
        self.assertTrue(torch.all(out[0, 0, 3] == 0))
        flow = torch.zeros(1, 2, 4, 5)
        flow[:, 1] = -0.5  # half a pixel left: column 0 mixes 0.5 * src[:, 0] with the zero outside
        out = warp(src, flow)
        torch.testing.assert_close(out[0, 0, :, 0], 0.5 * src[0, 0, :, 0])


def write_clip(root: str, name: str, T=6, H=20, W=24, C=3, seed=0):
    """A tiny clip in the layout of scripts/export-grfp-data.ts (a square moving right by 1 px/frame)."""
    rng = np.random.default_rng(seed)
    d = os.path.join(root, name)
    os.makedirs(d)
    rgb = np.zeros((T, 3, H, W), np.uint8)
    objs = np.zeros((T, H, W), np.uint8)
    flow = np.zeros((T, 2, H, W), np.int16)
    est = np.zeros((T, C, H, W), np.uint8)
    bg = rng.integers(0, 255, size=(3, H, W + T))
    for t in range(T):
        rgb[t] = bg[:, :, t : t + W]
        objs[t, 5:12, 4 + t : 11 + t] = 1
        objs[t, 14:18, 2:6] = 2
        flow[t, 1] = 64 if t > 0 else 0  # content moves left by 1 px/frame => backward flow dx = +1
        noisy = objs[t].copy()
        noisy[rng.random((H, W)) < 0.15] = rng.integers(0, C)
        for c in range(C):
            est[t, c] = np.where(noisy == c, 230, 12)
    for arr, f in ((rgb, "rgb.u8"), (objs, "objects.u8"), (flow, "flow.i16"), (est, "est-masks.u8")):
        arr.tofile(os.path.join(d, f))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"width": W, "height": H, "frames": T, "objects": C - 1, "estimates": {"masks": {"channels": C}}}, f)


class DataAndTrainingTest(unittest.TestCase):
    def test_loader_and_a_few_training_steps_reduce_the_loss(self):
        with tempfile.TemporaryDirectory() as tmp:
            for k in range(2):
                write_clip(os.path.join(tmp, "set"), f"clip{k}", seed=k)
            clips = open_set(os.path.join(tmp, "set"), "masks", "masks")
            self.assertEqual(len(clips), 2)
            rng = np.random.default_rng(0)
            b = sample_batch(clips, rng, 2, 4, 16, start="mix")
            self.assertEqual(tuple(b["images"].shape), (2, 4, 3, 16, 16))
            self.assertEqual(tuple(b["xs"].shape), (2, 4, 3, 16, 16))
            self.assertTrue(torch.allclose(b["p0"].sum(1), torch.ones(2, 16, 16), atol=1e-4))
            torch.manual_seed(0)
            cell = SharedSTGRUCell(seed=0)
            opt = torch.optim.Adam(cell.parameters(), lr=3e-3)
            fixed = sample_batch(clips, np.random.default_rng(5), 2, 4, 16, start="perframe", flip=False)

            def loss_of(batch):
                outs = run_clip(cell, batch["images"], batch["flows"], batch["xs"], batch["p0"])
                return torch.nn.functional.cross_entropy(outs[-1], batch["target"][:, -1])

            before = float(loss_of(fixed))
            for _ in range(30):
                loss = loss_of(sample_batch(clips, rng, 2, 4, 16))
                opt.zero_grad()
                loss.backward()
                opt.step()
            self.assertLess(float(loss_of(fixed)), before)


class ExportTest(unittest.TestCase):
    def test_export_writes_a_valid_onnx_with_metadata(self):
        import onnx

        with tempfile.TemporaryDirectory() as tmp:
            for cell in (STGRUCell(4), SharedSTGRUCell()):
                path = os.path.join(tmp, f"{cell.kind}.onnx")
                export_onnx(cell, path, {"trained": "false"})
                m = onnx.load(path)
                props = {p.key: p.value for p in m.metadata_props}
                self.assertEqual(props["vprop.cell"], cell.kind)
                self.assertEqual([i.name for i in m.graph.input], ["image", "prev_warped", "h_warped", "x"])
                self.assertEqual([o.name for o in m.graph.output], ["h", "r"])
                c_dim = m.graph.input[3].type.tensor_type.shape.dim[1]
                if cell.kind == "exact":
                    self.assertEqual(c_dim.dim_value, 4)
                else:
                    self.assertEqual(c_dim.dim_param, "C")
                self.assertLess(os.path.getsize(path), 100_000)

    def test_weights_read_back_from_an_exported_file_give_the_same_cell(self):
        # Initialised cells (zero biases the exporter shares through Identity nodes) and perturbed
        # ones (every parameter distinct; the exact cell's gate kernels merged by constant folding).
        with tempfile.TemporaryDirectory() as tmp:
            for cell in (STGRUCell(4, seed=3), SharedSTGRUCell(seed=3), SharedSTGRUCell(background_bias=False, seed=3)):
                for perturb in (False, True):
                    if perturb:
                        with torch.no_grad():
                            for p in cell.parameters():
                                p.add_(torch.randn_like(p) * 0.1)
                    path = os.path.join(tmp, "m.onnx")
                    export_onnx(cell, path)
                    back = load_onnx_cell(path)
                    self.assertEqual(type(back), type(cell))
                    for (k, a), (_, b) in zip(cell.state_dict().items(), back.state_dict().items()):
                        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{cell.kind} {k} perturb={perturb}")

    def test_fixture_reproduces_the_cell(self):
        cell = STGRUCell(3, seed=1)
        fx = make_fixture(cell, 3, H=4, W=5)
        t = lambda k, c: torch.tensor(fx["inputs"][k]).view(1, c, 4, 5)
        with torch.no_grad():
            h, _ = cell(t("image", 3), t("prev_warped", 3), t("h_warped", 3), t("x", 3))
        np.testing.assert_allclose(h.reshape(-1).numpy(), fx["outputs"]["h"], atol=1e-5)


if __name__ == "__main__":
    unittest.main()
