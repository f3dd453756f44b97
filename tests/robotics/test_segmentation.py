"""Colour segmentation + DBSCAN against exact rendered labels."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from lab.core import ConfigError
from lab.robotics import SegmentationConfig, fuse_point_clouds, rgb_to_hsv, segment_gripper


def test_hsv_of_known_colours():
    hsv = rgb_to_hsv(np.array([[0, 1, 0], [0, 1, 1], [1, 0, 1], [0.5, 0.5, 0.5], [0, 0.5, 0]]))
    np.testing.assert_allclose(hsv[:, 0], [120, 180, 300, 0, 120])
    np.testing.assert_allclose(hsv[:, 1], [1, 1, 1, 0, 1])
    np.testing.assert_allclose(hsv[:, 2], [1, 1, 1, 0.5, 0.5])


def test_segmentation_matches_ground_truth_labels(episode):
    for t in range(2):
        frames = episode.frames[t]
        cloud = fuse_point_clouds(frames)
        truth = np.concatenate(
            [lab[f.depth > 0] for f, lab in zip(frames, episode.labels[t], strict=True)]
        )
        seg = segment_gripper(cloud)
        assert seg.status == "ok"
        for part, labels in (("body", (1, 2)), ("finger_a", (3,)), ("finger_b", (4,))):
            idx = seg.indices[part]
            assert seg.counts[part] == len(idx) == len(seg.parts[part].points)
            if len(idx):
                precision = np.isin(truth[idx], labels).mean()
                assert precision > 0.99, (part, precision)
        recall = seg.counts["body"] / np.isin(truth, (1, 2)).sum()
        assert recall > 0.97
        # the green distractor far away passed the colour test but DBSCAN rejected it
        assert seg.colour_counts["body"] > seg.counts["body"]


def test_empty_and_gripper_free_frames_are_flagged(episode):
    empty = segment_gripper(o3d.geometry.PointCloud())
    assert empty.status == "empty" and not empty.ok and empty.counts["body"] == 0
    cloud = fuse_point_clouds(episode.frames[0])
    seg = segment_gripper(cloud)
    keep = np.setdiff1d(np.arange(len(cloud.points)), np.concatenate(list(seg.indices.values())))
    no_gripper = segment_gripper(cloud.select_by_index(keep.tolist()))
    assert no_gripper.status in ("empty", "too_few_points")
    assert no_gripper.counts["body"] < 100
    strict = segment_gripper(cloud, SegmentationConfig(min_body_points=10**6))
    assert strict.status == "too_few_points" and strict.counts["body"] == seg.counts["body"]


def test_paper_rule_keeps_only_the_largest_cluster(episode):
    cloud = fuse_point_clouds(episode.frames[0])
    ours = segment_gripper(cloud)
    paper = segment_gripper(cloud, SegmentationConfig(attach_distance=0.0, dbscan_voxel=0.0))
    assert paper.counts["body"] == pytest.approx(ours.counts["body"], rel=0.02)
    assert sum(paper.counts.values()) <= sum(ours.counts.values())


def test_config_validation():
    with pytest.raises(ConfigError, match="hue_tolerance"):
        SegmentationConfig(hue_tolerance=0)
    with pytest.raises(ConfigError, match="min_saturation"):
        SegmentationConfig(min_saturation=1.5)
