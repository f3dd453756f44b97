"""lab.signal.vc: CLOT-GAN non-parallel voice conversion (Dhar, Akhter, Jana, Das 2025).

Needs the ``vc`` extra (``pip install 'labworks-signal[vc]'``: librosa, soundfile, pyworld,
pysptk); importing this package without it raises an error naming that line.

Audio front end (:func:`load_wav`, :func:`save_wav`, :func:`resample`, :func:`mel_spectrogram`,
:func:`griffin_lim`), WORLD analysis/synthesis, the model
(:class:`CLOTGAN`, :class:`CLOTGANConfig`: a 2D-1D-2D GLU :class:`Generator` with frame masking,
PatchGAN / ViT / Conformer discriminators combined by collective learning, least-squares,
cycle, identity and Sinkhorn losses), the :func:`sinkhorn_divergence`, metrics (:func:`mcd`,
:func:`world_metrics`, :func:`mfcc_mcd`, :func:`msd`, :func:`f0_rmse`, the
:class:`SpeakerClassifier`) and the :class:`MeanVarianceConverter` baseline.
"""

from __future__ import annotations

from ._deps import VC_EXTRA  # first: checks the [vc] extra before any module of vc needs it
from .audio import (
    MelConfig,
    check_waveform,
    griffin_lim,
    list_wavs,
    load_wav,
    mel_filterbank,
    mel_spectrogram,
    mel_to_linear,
    resample,
    save_wav,
)
from .baseline import MeanVarianceConverter
from .clotgan import (
    CLOTGAN,
    CLOTGANConfig,
    CLOTGANNetworks,
    SpeakerStats,
    load_utterances,
    log_gaussian_f0,
    speaker_stats,
)
from .discriminators import (
    DISCRIMINATOR_KINDS,
    ConformerDiscriminator,
    DiscriminatorConfig,
    PatchCNNDiscriminator,
    ViTDiscriminator,
    build_discriminator,
)
from .generator import Generator, GeneratorConfig, frame_mask
from .losses import collective_weights, combine_losses, lsgan_d_loss, lsgan_g_loss, ot_loss
from .metrics import (
    MCD_CONSTANT,
    MetricConfig,
    dtw_path,
    f0_rmse,
    mcd,
    mfcc,
    mfcc_mcd,
    modulation_spectrum,
    msd,
    nonsilent_frames,
    world_metrics,
)
from .sinkhorn import entropic_ot, sinkhorn_divergence
from .speaker import SpeakerClassifier, utterance_features
from .world import (
    WorldConfig,
    WorldFeatures,
    all_pass_constant,
    mcep_to_envelope,
    mel_cepstrum,
    world_analyze,
    world_synthesize,
)

__all__ = [
    "CLOTGAN",
    "DISCRIMINATOR_KINDS",
    "MCD_CONSTANT",
    "VC_EXTRA",
    "CLOTGANConfig",
    "CLOTGANNetworks",
    "ConformerDiscriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "MeanVarianceConverter",
    "MelConfig",
    "MetricConfig",
    "PatchCNNDiscriminator",
    "SpeakerClassifier",
    "SpeakerStats",
    "ViTDiscriminator",
    "WorldConfig",
    "WorldFeatures",
    "all_pass_constant",
    "build_discriminator",
    "check_waveform",
    "collective_weights",
    "combine_losses",
    "dtw_path",
    "entropic_ot",
    "f0_rmse",
    "frame_mask",
    "griffin_lim",
    "list_wavs",
    "load_utterances",
    "load_wav",
    "log_gaussian_f0",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "mcd",
    "mcep_to_envelope",
    "mel_cepstrum",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_linear",
    "mfcc",
    "mfcc_mcd",
    "modulation_spectrum",
    "msd",
    "nonsilent_frames",
    "ot_loss",
    "resample",
    "save_wav",
    "sinkhorn_divergence",
    "speaker_stats",
    "utterance_features",
    "world_analyze",
    "world_metrics",
    "world_synthesize",
]
