"""The ``lab demo`` entry for robotics (long: marked slow)."""

from __future__ import annotations

import torch

from lab.core.testing import slow
from lab.robotics.demo import demo


@slow
def test_demo_reports_accurate_labels_and_flags_the_blank_frame(tmp_path):
    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert res.metrics["blank_frame_status"] == "empty"
    assert res.metrics["track_trans_median_mm"] < 1.0 and res.metrics["track_rot_median_deg"] < 0.5
    assert all(p.is_file() for p in res.plots)
