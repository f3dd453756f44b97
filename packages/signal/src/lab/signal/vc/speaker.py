"""Speaker-similarity score: a speaker classifier on utterance-level features of real speech.

Features (OURS): mean and standard deviation over the non-silent frames of MFCCs c1..c24
(:func:`lab.signal.vc.metrics.mfcc`), standardised with the training set's statistics.
Classifier: multinomial logistic regression (torch, L2 penalty, L-BFGS). The score of a set of
converted utterances is the mean posterior probability of the target speaker (and the accuracy
of predicting it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from lab.core import ConfigError, DataError

from .audio import MelConfig
from .metrics import mfcc, nonsilent_frames

__all__ = ["SpeakerClassifier", "utterance_features"]


def utterance_features(wav: np.ndarray, mel_cfg: MelConfig | None = None) -> np.ndarray:
    """Mean and std of MFCC c1..c24 over non-silent frames: a 48-dim vector."""
    c, e = mfcc(wav, mel_cfg, n_mfcc=25)
    c = c[nonsilent_frames(e), 1:]
    return np.concatenate([c.mean(0), c.std(0)])


class SpeakerClassifier:
    """Logistic-regression speaker identification trained on real utterances."""

    def __init__(self, mel_cfg: MelConfig | None = None, l2: float = 1e-2):
        if l2 < 0:
            raise ConfigError(f"l2 must be >= 0, got {l2}")
        self.mel_cfg = mel_cfg or MelConfig()
        self.l2 = l2
        self.speakers: list[str] = []

    def fit(self, utterances: Mapping[str, Sequence[np.ndarray]]) -> SpeakerClassifier:
        """``{speaker: [waveforms]}`` with at least two speakers."""
        if len(utterances) < 2:
            raise DataError(f"a speaker classifier needs >= 2 speakers, got {len(utterances)}")
        feats, labels = [], []
        self.speakers = sorted(utterances)
        for i, spk in enumerate(self.speakers):
            if not utterances[spk]:
                raise DataError(f"speaker {spk!r} has no utterances")
            for w in utterances[spk]:
                feats.append(utterance_features(w, self.mel_cfg))
                labels.append(i)
        x = np.stack(feats)
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-6
        xt = torch.as_tensor((x - self.mu) / self.sd, dtype=torch.float64)
        yt = torch.as_tensor(labels)
        self.lin = torch.nn.Linear(xt.shape[1], len(self.speakers)).double()
        opt = torch.optim.LBFGS(self.lin.parameters(), max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.lin(xt), yt)
            loss = loss + self.l2 * (self.lin.weight**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self

    def predict_proba(self, wavs: Sequence[np.ndarray]) -> np.ndarray:
        """``(utterances, speakers)`` posterior probabilities (columns in ``self.speakers``)."""
        if not self.speakers:
            raise DataError("SpeakerClassifier used before fit")
        x = np.stack([utterance_features(w, self.mel_cfg) for w in wavs])
        xt = torch.as_tensor((x - self.mu) / self.sd, dtype=torch.float64)
        with torch.no_grad():
            return torch.softmax(self.lin(xt), dim=1).numpy()

    def score(self, wavs: Sequence[np.ndarray], speaker: str) -> dict[str, float]:
        """Mean posterior of ``speaker`` and the fraction classified as ``speaker``."""
        if speaker not in self.speakers:
            raise DataError(f"unknown speaker {speaker!r}; known: {self.speakers}")
        p = self.predict_proba(wavs)
        j = self.speakers.index(speaker)
        return {"probability": float(p[:, j].mean()), "accuracy": float((p.argmax(1) == j).mean())}
