"""VPN's learned mask stage (vprop_train/vpn.py, train_vpn.py)."""
import json
import os
import tempfile
import unittest
import warnings

import torch

from vprop_train.lattice import filter_after
from vprop_train.train_vpn import data_inputs, make_color_fixture, make_fixture
from vprop_train.vpn import HIDDEN, VpnColorNet, VpnMaskNet, apply_filter, color_lattice, frame_lattices, within_frame_matrix

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def random_frame(S=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    ycc = torch.rand(3, S, generator=g) * 200 + 20
    xy = torch.rand(2, S, generator=g) * torch.tensor([[300.0], [200.0]])
    feats = torch.cat([ycc, xy, torch.full((1, S), 3.0)])
    fg = torch.rand(S, generator=g)
    return feats, torch.stack([1 - fg, fg]), torch.stack([fg.roll(3), 1 - fg.roll(3)])


class VpnTest(unittest.TestCase):
    def setUp(self):
        torch.set_num_threads(2)

    def test_within_frame_matrix_is_the_lattice_filter(self):
        feats, _, _ = random_frame()
        for lat in frame_lattices(feats):
            x = torch.randn(5, lat.n_in, dtype=torch.float32)
            self.assertLess(float((apply_filter(within_frame_matrix(lat), x) - filter_after(lat, x)).abs().max()), 1e-5)

    def test_sparse_filter_gradient(self):
        feats, _, _ = random_frame(S=40, seed=2)
        lat = frame_lattices(feats)[0]
        B, Bt, norm = within_frame_matrix(lat)
        B64, Bt64 = B.to_dense().double().to_sparse_csr(), Bt.to_dense().double().to_sparse_csr()
        x = torch.randn(3, lat.n_in, dtype=torch.float64, requires_grad=True)
        self.assertTrue(torch.autograd.gradcheck(lambda v: apply_filter((B64, Bt64, norm.double()), v), (x,)))

    def test_stage_with_lattices_equals_stage_with_matrices(self):
        feats, fa, fb = random_frame(seed=3)
        m = VpnMaskNet(seed=1)
        with torch.no_grad():  # make every weight matter (W3 reads h2 too)
            m.w3.weight.add_(torch.randn(m.w3.weight.shape) * 0.1)
        lats = frame_lattices(feats)
        u1 = m.superpixel_stage(fa, fb, *lats)
        u2 = m.superpixel_stage(fa, fb, *(within_frame_matrix(l) for l in lats))
        self.assertLess(float((u1 - u2).abs().max()), 1e-5)
        # and the stage reads the within-frame path: other weights there change u
        with torch.no_grad():
            m.wa2.bias.add_(1.0)
        self.assertGreater(float((m.superpixel_stage(fa, fb, *lats) - u1).abs().max()), 1e-3)

    def test_initial_net_is_bnn_identity(self):
        feats, fa, fb = random_frame(seed=4)
        m = VpnMaskNet(seed=7)
        u = m.superpixel_stage(fa, fb, *frame_lattices(feats))
        self.assertLess(float((u - 0.5 * (fa + fb)).abs().max()), 1e-6)
        pix = torch.rand(1, 2, 9, 11)
        p = m.spatial(pix)
        self.assertLess(float((p - (pix + 1e-4) / (pix.sum(1, keepdim=True) + 2e-4)).abs().max()), 1e-6)
        self.assertEqual(m.wa.weight.shape, (HIDDEN, 2))

    def test_committed_identity_fixture_in_sync(self):
        path = os.path.join(ROOT, "test", "fixtures", "vpn", "vpn-mask-identity.json")
        with open(path) as f:
            committed = json.load(f)
        fresh = make_fixture(VpnMaskNet())
        for k in ("labels", "features", "fa", "fb"):
            self.assertEqual(committed[k], fresh[k], k)
        for k in ("u", "probabilities"):
            self.assertLess(max(abs(a - b) for a, b in zip(committed[k], fresh[k])), 1e-5, k)

    def test_initial_colour_net_is_bnn_identity(self):
        g = torch.Generator().manual_seed(5)
        luma = (torch.rand(10, 12, generator=g) * 255).to(torch.uint8)
        fc = (torch.rand(2, 120, generator=g) - 0.5) * 2.2  # beyond the Lab gamut's +-1.1
        m = VpnColorNet(seed=2)
        out = m.spatial(m.pixel_stage(fc, color_lattice(luma, 0, 0, 4)).reshape(1, 2, 10, 12))
        self.assertLess(float((out[0].reshape(2, -1) - fc).abs().max()), 1e-5)
        with torch.no_grad():  # the within-frame path is read: a bias there changes the output
            m.w3.weight[0, HIDDEN] = 0.3
            m.w2.bias.add_(0.5)
        out2 = m.spatial(m.pixel_stage(fc, color_lattice(luma, 0, 0, 4)).reshape(1, 2, 10, 12))
        self.assertGreater(float((out2 - out).abs().max()), 1e-2)

    def test_committed_colour_identity_fixture_in_sync(self):
        with open(os.path.join(ROOT, "test", "fixtures", "vpn-color", "vpn-color-identity.json")) as f:
            committed = json.load(f)
        fresh = make_color_fixture(VpnColorNet())
        self.assertEqual(committed["luma"], fresh["luma"])
        for k in ("fc", "m", "chroma"):
            self.assertLess(max(abs(a - b) for a, b in zip(committed[k], fresh[k])), 1e-5, k)


if __name__ == "__main__":
    unittest.main()


class VpnDataInputsTest(unittest.TestCase):
    def test_exported_inputs_note_follows_the_dump(self):
        # Stage 2's dumps (export-vpn-data.ts --stage1-models) name the stage-1 model in meta.json;
        # the exported model's vprop.inputs carries it. No dump (steps 0): stage 0's.
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, "cows"))
            with open(os.path.join(root, "cows", "meta.json"), "w") as f:
                json.dump({"inputs": "stage-1 unaries (training/models/vpn-mask-foldA run on stage-0 unaries)"}, f)
            self.assertIn("vpn-mask-foldA", data_inputs(root, "cows,dog"))
            self.assertEqual(data_inputs(root, ""), "stage-0 (BNN-Identity) unaries")
            self.assertEqual(data_inputs(root, "dog"), "stage-0 (BNN-Identity) unaries")
