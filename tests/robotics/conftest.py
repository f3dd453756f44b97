"""Fixtures for the robotics tests: small rendered episodes, shared per session (cheap to reuse)."""

from __future__ import annotations

import pytest
import torch

from lab.robotics import (
    GripperModel,
    PoseEstimator,
    PoseEstimatorConfig,
    SyntheticConfig,
    synthesize_episode,
)

torch.set_num_threads(1)  # the CI machine is shared: one thread is the fastest here

SMALL = SyntheticConfig(width=192, height=144, n_frames=6, n_clutter=4)


@pytest.fixture(scope="session")
def model() -> GripperModel:
    return GripperModel.default()


@pytest.fixture(scope="session")
def episode(model):
    return synthesize_episode(SMALL, seed=3, gripper=model)


@pytest.fixture(scope="session")
def estimator(model) -> PoseEstimator:
    return PoseEstimator(
        model, PoseEstimatorConfig.fast(ransac_attempts=1, ransac_max_iterations=5000)
    )
