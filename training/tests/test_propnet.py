"""maskprop's propagation network (vprop_train/propnet.py, train_propnet.py)."""
import json
import os
import unittest

import numpy as np
import torch

from vprop_train.propnet import PropNet, affine_jitter, crop_resize, deform, net_input, paste, roi_box
from vprop_train.train_propnet import roi_cases

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class PropNetTest(unittest.TestCase):
    def setUp(self):
        torch.set_num_threads(2)

    def test_roi_box_by_hand(self):
        p = np.zeros((20, 40), dtype=np.float32)
        p[4:8, 10:20] = 0.9  # rows 4..7, columns 10..19
        # Height 4: 4 - 0.25*4 = 3, 8 + 1 = 9; width 10: floor(7.5) = 7, ceil(22.5) = 23.
        self.assertEqual(roi_box(p, 0.25, 1), (3, 7, 9, 23))
        # Minimum side 10 grows the rows about their centre (3 + 9 = 12: 1..11), columns stay.
        self.assertEqual(roi_box(p, 0.25, 10), (1, 7, 11, 23))
        # At the border the region slides inside the frame.
        q = np.zeros((20, 40), dtype=np.float32)
        q[19, 39] = 1.0
        self.assertEqual(roi_box(q, 0.25, 8), (12, 32, 20, 40))
        self.assertIsNone(roi_box(np.full((5, 5), 0.5, dtype=np.float32)))

    def test_crop_then_paste_returns_the_region(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 1, 30, 50, generator=g)
        box = (5, 10, 21, 42)  # 16 x 32
        c = crop_resize(x, box, 16)
        self.assertEqual(tuple(c.shape), (1, 1, 16, 16))
        back = paste(crop_resize(x, box, 32), box, 30, 50, outside=-7.0)
        # 16 x 32 crop resized to 32 x 32 and back: columns are exact, rows averaged pairs interpolated back.
        self.assertTrue(torch.all(back[:, :, :5] == -7.0) and torch.all(back[:, :, :, 42:] == -7.0))
        same = paste(x[:, :, 5:21, 10:42], box, 30, 50)
        self.assertTrue(torch.equal(same[:, :, 5:21, 10:42], x[:, :, 5:21, 10:42]))

    def test_net_starts_near_half_its_input_logit(self):
        net = PropNet().eval()
        rgb = torch.rand(2, 3, 32, 32) * 255
        p = torch.zeros(2, 1, 32, 32)
        p[:, :, 8:24, 8:24] = 1.0
        with torch.no_grad():
            z = net(net_input(rgb, p))
        self.assertEqual(tuple(z.shape), (2, 1, 32, 32))
        # Head weights ~N(0, 1e-3): the output is the skip, 0.5 x the clamped logit (±4), within a little.
        self.assertTrue(torch.all((z[:, :, 10:22, 10:22] - 2.0).abs() < 0.5))
        self.assertTrue(torch.all((z[:, :, :4, :4] + 2.0).abs() < 0.5))

    def test_deformations_stay_near_the_mask(self):
        rng = np.random.default_rng(3)
        m = np.zeros((90, 120), dtype=np.float32)
        m[30:60, 40:90] = 1
        for _ in range(8):
            d = deform(m, rng, 1.0)[0, 0].numpy() > 0.5
            a = affine_jitter(m, rng) > 0.5
            for e in (d, a):
                iou = np.logical_and(e, m > 0).sum() / max(1, np.logical_or(e, m > 0).sum())
                self.assertGreater(iou, 0.4)
                self.assertLess(iou, 1.0 + 1e-9)

    def test_fixture_region_cases_in_sync(self):
        path = os.path.join(ROOT, "test", "fixtures", "propnet", "propnet-init.json")
        with open(path) as f:
            fixture = json.load(f)
        self.assertEqual(json.loads(json.dumps(roi_cases(7))), fixture["roi"])


if __name__ == "__main__":
    unittest.main()
