"""lab.explain: soft stability certification of feature attributions.

After Jin, Xue, You, Goel, Wong, "Probabilistic Stability Guarantees for Feature Attributions"
(2025). An explanation is a binary mask ``alpha`` over the features of one input; its stability
rate at radius ``r`` is the probability that adding ``r`` or fewer random features keeps the
classifier's prediction on the masked input. :func:`soft_stability` estimates it with the
Stability Certification Algorithm (SCA, Hoeffding-guaranteed), :func:`hard_stability` and
:func:`mus_certified_radius` are the worst-case notions it relaxes, :class:`Smoothed` is mild
smoothing, and maskers turn images, token sequences and tabular rows into feature sets.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .digits import SmallCNN, load_digits_tensors, load_image_npz, train_test_split
from .explanations import (
    CAPTUM_METHODS,
    AttributionConfig,
    captum_attributions,
    explanation_mask,
    k_from_fraction,
    random_mask,
    top_k_mask,
)
from .hard import HardStability, hard_stability, hard_stability_radius
from .maskers import MaskedClassifier, Masker, PatchMasker, TabularMasker, TokenMasker
from .mus import MuSCertificate, MuSClassifier, MuSConfig, mus_certified_radius, mus_masks
from .sampling import (
    delta_r_size,
    enumerate_perturbations,
    hoeffding_samples,
    perturbation_size_probs,
    sample_perturbations,
)
from .smoothing import ExactSmoothed, Smoothed, SmoothingConfig
from .stability import (
    ExactStability,
    SCAConfig,
    StabilityEstimate,
    exact_stability_rate,
    reference_prediction,
    soft_stability,
    stability_curve,
)
from .text import TinyTextClassifier, planted_keyword_data
from .training import TrainConfig, accuracy, train_classifier

try:
    __version__ = version("labworks-explain")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "CAPTUM_METHODS",
    "AttributionConfig",
    "ExactSmoothed",
    "ExactStability",
    "HardStability",
    "MaskedClassifier",
    "Masker",
    "MuSCertificate",
    "MuSClassifier",
    "MuSConfig",
    "PatchMasker",
    "SCAConfig",
    "SmallCNN",
    "Smoothed",
    "SmoothingConfig",
    "StabilityEstimate",
    "TabularMasker",
    "TinyTextClassifier",
    "TokenMasker",
    "TrainConfig",
    "__version__",
    "accuracy",
    "captum_attributions",
    "delta_r_size",
    "enumerate_perturbations",
    "exact_stability_rate",
    "explanation_mask",
    "hard_stability",
    "hard_stability_radius",
    "hoeffding_samples",
    "k_from_fraction",
    "load_digits_tensors",
    "load_image_npz",
    "mus_certified_radius",
    "mus_masks",
    "perturbation_size_probs",
    "planted_keyword_data",
    "random_mask",
    "reference_prediction",
    "sample_perturbations",
    "soft_stability",
    "stability_curve",
    "top_k_mask",
    "train_classifier",
    "train_test_split",
]
