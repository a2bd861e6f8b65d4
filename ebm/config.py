"""Typed run configs, one class per model kind (``kind: rbm`` or ``kind: conv_ebm``).

Every field has a default and a docstring (cleanrl's ``Args``), so a YAML config holds only what differs from
them (tests/test_config.py checks that no shipped file restates a default); ``key=value`` overrides apply
last. Each section checks its own ranges in ``__post_init__``; reading, type checks and one-line
:class:`ConfigError` messages are :mod:`ebm.strict`'s, shared with the sweep files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ebm.metric_names import OPTIONS
from ebm.strict import ConfigError, build, check, deep_merge, parse_override, plain, read_yaml, set_dotted

# --------------------------------------------------------------------------------------------------
# Shared sections


@dataclass
class DataConfig:
    name: Literal["mnist", "mnist5k", "digits", "cifar10"] = "mnist5k"
    """Data set: torchvision ``mnist``/``cifar10`` under ``root``, or the embedded ``mnist5k``/``digits``."""
    root: str = "./data"
    """Folder holding torchvision-layout data sets (e.g. ``root/MNIST/raw``)."""
    download: bool = True
    """Try to download a torchvision data set missing under ``root`` (fails cleanly offline)."""
    binarize: Literal["stochastic", "threshold", "none"] = "stochastic"
    """RBM visible units: Bernoulli draw per epoch, fixed 0.5 threshold, or raw intensities."""
    noise_std: float = 0.0
    """Conv-EBM: std of Gaussian noise added to data images each step (pixel units, data in [0, 1])."""
    limit: int = 0
    """Use only the first ``limit`` training images (0 = all); for smoke runs."""

    def __post_init__(self):
        check(self.noise_std >= 0, "data.noise_std", self.noise_std, "must be >= 0")
        check(self.limit >= 0, "data.limit", self.limit, "must be >= 0 (0 = all)")


# --------------------------------------------------------------------------------------------------
# RBM


@dataclass
class RBMModelConfig:
    n_visible: int = 784
    """Visible units; must equal the data's pixel count (784 for MNIST, 64 for digits)."""
    n_hidden: int = 500
    """Hidden units."""
    init_std: float = 0.01
    """Std of the initial Gaussian weights (Hinton 2010, practical guide: 0.01)."""
    centering: bool = False
    """Centered gradient (Melchior, Fischer & Wiskott 2016): offsets = data mean and running hidden mean."""
    centering_rate: float = 0.01
    """Sliding-average rate of the hidden offset when centering."""

    def __post_init__(self):
        check(self.n_visible >= 1, "model.n_visible", self.n_visible, "must be >= 1")
        check(self.n_hidden >= 1, "model.n_hidden", self.n_hidden, "must be >= 1")
        check(self.init_std >= 0, "model.init_std", self.init_std, "must be >= 0")
        check(0 < self.centering_rate <= 1, "model.centering_rate", self.centering_rate, "must be in (0, 1]")


@dataclass
class GibbsConfig:
    init: Literal["data", "persistent"] = "data"
    """Where negative chains start: ``data`` = CD-k (Hinton 2002), ``persistent`` = PCD-k (Tieleman 2008)."""
    k: int = 1
    """Gibbs sweeps per parameter update."""
    n_chains: int = 0
    """PCD: number of persistent chains (0 = the batch size)."""

    def __post_init__(self):
        check(self.k >= 1, "sampler.k", self.k, "must be >= 1")
        check(self.n_chains >= 0, "sampler.n_chains", self.n_chains, "must be >= 0 (0 = batch size)")


@dataclass
class RBMTrainConfig:
    epochs: int = 10
    """Passes over the training set."""
    batch_size: int = 100
    """Examples per parameter update."""
    lr: float = 0.05
    """SGD learning rate."""
    momentum: float = 0.5
    """SGD momentum."""
    weight_decay: float = 1e-4
    """L2 penalty on W (not on biases)."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning rate over epochs: constant, linear decay to 0, or cosine decay to 0."""

    def __post_init__(self):
        check(self.epochs >= 1, "train.epochs", self.epochs, "must be >= 1")
        check(self.batch_size >= 1, "train.batch_size", self.batch_size, "must be >= 1")
        check(self.lr > 0, "train.lr", self.lr, "must be > 0")
        check(0 <= self.momentum < 1, "train.momentum", self.momentum, "must be in [0, 1)")
        check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "must be >= 0")


@dataclass
class RBMEvalConfig:
    log_likelihood: Literal["auto", "exact", "ais", "none"] = "auto"
    """Held-out log-likelihood each eval: exact if min(V, H) <= 20 (auto), AIS, or skipped."""
    every: int = 1
    """Evaluate the held-out log-likelihood every this many epochs (and always after the last)."""
    ais_betas: int = 1000
    """Inverse temperatures of the per-epoch AIS (``evaluate`` uses the full 14,500 by default)."""
    ais_chains: int = 100
    """AIS chains for the per-epoch estimate."""
    final: Literal["auto", "exact", "ais", "none"] = "auto"
    """Evaluation of the last epoch's model, reported as ``final/...`` (what sweeps rank by): exact when
    min(V, H) <= 25 (auto), else forward AIS (``final_ais_*``) bracketed by RAISE (``final_raise_*``)."""
    final_ais_betas: int = 14_500
    """Inverse temperatures of the final AIS's first run (Salakhutdinov & Murray 2008's schedule)."""
    final_ais_chains: int = 100
    """Chains of each final forward AIS run."""
    final_ais_rounds: int = 4
    """Final forward AIS runs at most: while the weight ESS is below 10 the next run doubles the betas (4: up
    to 8 x final_ais_betas, 15 runs' worth of time); ``final/rounds`` and ``final/forward_seconds`` say what
    was spent."""
    final_raise_images: int = 100
    """Held-out images RAISE (Burda et al. 2015) runs on, the final evaluation's conservative side (0 = off).
    It costs images x final_raise_chains chains at final_raise_betas plus at a quarter of them (its trend
    check):
    100 images, one chain each, at 14,500 betas cost 1.25 forward runs of 100 chains."""
    final_raise_chains: int = 1
    """RAISE's reverse chains per image; their mean weight, before the log, tightens each image's estimate."""
    final_raise_betas: int = 14_500
    """Inverse temperatures of RAISE's reverse schedule."""
    n_samples: int = 100
    """Samples drawn for the sample grid."""
    sample_steps: int = 1000
    """Gibbs sweeps from noise for the sample grid."""
    ess_steps: int = 0
    """Gibbs sweeps of ``ess_chains`` chains started at training data, each eval, for ``eval/ess`` and
    ``eval/tau`` of the free energy (0 = off). Their draws never touch the training run's random stream."""
    ess_chains: int = 100
    """Chains for ``eval/ess``."""

    def __post_init__(self):
        check(self.every >= 1, "eval.every", self.every, "must be >= 1")
        check(self.ess_steps >= 0, "eval.ess_steps", self.ess_steps, "must be >= 0 (0 = off)")
        check(self.ess_chains >= 1, "eval.ess_chains", self.ess_chains, "must be >= 1")
        check(self.ais_betas >= 10, "eval.ais_betas", self.ais_betas, "must be >= 10")
        check(self.ais_chains >= 2, "eval.ais_chains", self.ais_chains, "must be >= 2")
        check(self.final_ais_betas >= 10, "eval.final_ais_betas", self.final_ais_betas, "must be >= 10")
        check(self.final_ais_chains >= 2, "eval.final_ais_chains", self.final_ais_chains, "must be >= 2")
        check(self.final_ais_rounds >= 1, "eval.final_ais_rounds", self.final_ais_rounds, "must be >= 1")
        check(self.final_raise_images != 1 and self.final_raise_images >= 0, "eval.final_raise_images",
              self.final_raise_images, "must be 0 (off) or >= 2 (its trend check needs a spread over images)")
        check(self.final_raise_chains >= 1, "eval.final_raise_chains", self.final_raise_chains,
              "must be >= 1")
        check(self.final_raise_betas >= 16, "eval.final_raise_betas", self.final_raise_betas,
              "must be >= 16 (its trend check runs a quarter of them)")
        check(self.n_samples >= 1, "eval.n_samples", self.n_samples, "must be >= 1")
        check(self.sample_steps >= 1, "eval.sample_steps", self.sample_steps, "must be >= 1")


@dataclass
class RBMConfig:
    RUN: ClassVar[str] = "ebm.rbm_train:RBMRun"  # the run class that trains this kind (ebm.runs.run_class)
    kind: Literal["rbm"] = "rbm"
    """Model kind; selects this config class."""
    seed: int = 0
    """Seed of every random draw in the run (init, batches, chains, binarization)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    data: DataConfig = field(default_factory=DataConfig)
    model: RBMModelConfig = field(default_factory=RBMModelConfig)
    sampler: GibbsConfig = field(default_factory=GibbsConfig)
    train: RBMTrainConfig = field(default_factory=RBMTrainConfig)
    eval: RBMEvalConfig = field(default_factory=RBMEvalConfig)


# --------------------------------------------------------------------------------------------------
# Convolutional EBM


@dataclass
class ConvModelConfig:
    net: Literal["small", "flat", "resnet"] = "small"
    """Energy network: ``small`` pooled CNN, ``flat`` strided CNN with an MLP head on the flattened map (the
    UvA DL tutorial 8's MNIST energy; digits on CPUs), or IGEBM-style ``resnet`` (Du & Mordatch 2019) for
    GPUs."""
    width: int = 0
    """Base channel count (0 = the network's default)."""
    activation: Literal["swish", "leaky_relu"] = "swish"
    """Hidden activation."""
    spectral_norm: bool = False
    """Spectral normalisation of every conv/linear layer (Miyato et al. 2018)."""

    def __post_init__(self):
        check(self.width >= 0, "model.width", self.width, "must be >= 0 (0 = default)")


@dataclass
class LangevinConfig:
    init: Literal["data", "buffer", "noise"] = "buffer"
    """Chain starts: ``data`` = CD-k, ``buffer`` = PCD-k via the replay buffer, ``noise`` = short-run MCMC."""
    k: int = 20
    """Langevin steps per parameter update."""
    step_size: float = 10.0
    """Gradient step: x <- x - step_size * dE/dx + noise_std * eps (IGEBM/JEM scale: 10 with noise 0.005)."""
    noise_std: float = 0.005
    """Std of the Langevin noise per step, pixel units."""
    grad_clip: float = 0.0
    """Clip each sample's dE/dx to this L2 norm before the step (0 = off)."""
    buffer_size: int = 10000
    """Replay-buffer capacity (``init: buffer``)."""
    reinit_prob: float = 0.05
    """Fraction of buffer draws restarted from uniform noise (Du & Mordatch 2019: 5%)."""

    def __post_init__(self):
        check(self.k >= 1, "sampler.k", self.k, "must be >= 1")
        check(self.step_size > 0, "sampler.step_size", self.step_size, "must be > 0")
        check(self.noise_std >= 0, "sampler.noise_std", self.noise_std, "must be >= 0")
        check(self.grad_clip >= 0, "sampler.grad_clip", self.grad_clip, "must be >= 0 (0 = off)")
        check(self.buffer_size >= 1, "sampler.buffer_size", self.buffer_size, "must be >= 1")
        check(0 <= self.reinit_prob <= 1, "sampler.reinit_prob", self.reinit_prob, "must be in [0, 1]")


@dataclass
class ConvTrainConfig:
    epochs: int = 5
    """Reporting blocks: each is a pass over the data, or ``iterations_per_epoch`` updates when set."""
    iterations_per_epoch: int = 0
    """Parameter updates per epoch (0 = one pass over the training set)."""
    batch_size: int = 64
    """Data images (and chains) per update."""
    lr: float = 1e-4
    """Adam learning rate."""
    betas: tuple[float, float] = (0.0, 0.999)
    """Adam betas (IGEBM uses beta1 = 0)."""
    alpha: float = 1.0
    """Energy-magnitude penalty alpha * (E(data)^2 + E(samples)^2) (Du & Mordatch 2019)."""
    grad_clip: float = 0.0
    """Clip the parameters' gradient norm (0 = off)."""
    accumulation_steps: int = 1
    """Batches whose gradients are summed per optimiser step."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights used for evaluation (0 = off, e.g. 0.999)."""
    energy_bound: float = 1e4
    """Divergence guard: |energy| above this (or any non-finite loss/energy) stops the run as diverged."""

    def __post_init__(self):
        check(self.epochs >= 1, "train.epochs", self.epochs, "must be >= 1")
        check(self.iterations_per_epoch >= 0, "train.iterations_per_epoch", self.iterations_per_epoch,
               "must be >= 0 (0 = full pass)")
        check(self.batch_size >= 1, "train.batch_size", self.batch_size, "must be >= 1")
        check(self.lr > 0, "train.lr", self.lr, "must be > 0")
        check(all(0 <= b < 1 for b in self.betas), "train.betas", list(self.betas), "must be in [0, 1)")
        check(self.alpha >= 0, "train.alpha", self.alpha, "must be >= 0")
        check(self.grad_clip >= 0, "train.grad_clip", self.grad_clip, "must be >= 0 (0 = off)")
        check(self.accumulation_steps >= 1, "train.accumulation_steps", self.accumulation_steps,
              "must be >= 1")
        check(0 <= self.ema < 1, "train.ema", self.ema, "must be in [0, 1) (0 = off)")
        check(self.energy_bound > 0, "train.energy_bound", self.energy_bound, "must be > 0")


@dataclass
class EvalProtocolConfig:
    """The common evaluation sampler: every arm of a comparison is scored on samples it draws, so CD-k,
    PCD-k and short-run arms are ranked on one procedure (``eval/<metric>``), while the samples of each
    arm's own training sampler are reported beside them (``eval/as_trained/<metric>``)."""

    init: Literal["as_trained", "noise", "data", "buffer"] = "as_trained"
    """Chain starts: ``noise`` = fresh U[0, 1] (applies to every arm), ``data`` = training images, ``buffer``
    = replay-buffer states without restarts (PCD arms only), ``as_trained`` = each arm's own training
    sampler."""
    steps: int = 0
    """Langevin steps from those starts (0 = sampler.k; ignored by ``as_trained``)."""
    step_size: float | None = None
    """Langevin step size (null = the arm's sampler.step_size; set it when the sweep varies the sampler)."""
    noise_std: float | None = None
    """Langevin noise std, pixel units (null = the arm's sampler.noise_std)."""
    grad_clip: float | None = None
    """Per-sample clip of dE/dx (null = the arm's sampler.grad_clip; 0 = off)."""
    min_chain_steps: int = 0
    """``buffer`` start only: use only chains that have run at least this many Langevin steps since their last
    start from noise, so chains restarted a few steps ago (``reinit_prob``) are not scored as the model's
    samples."""

    def __post_init__(self):
        check(self.steps >= 0, "eval.protocol.steps", self.steps, "must be >= 0 (0 = sampler.k)")
        check(self.min_chain_steps >= 0, "eval.protocol.min_chain_steps", self.min_chain_steps,
              "must be >= 0")
        check(self.step_size is None or self.step_size > 0, "eval.protocol.step_size", self.step_size,
               "must be > 0 (or null = the arm's own)")
        check(self.noise_std is None or self.noise_std >= 0, "eval.protocol.noise_std", self.noise_std,
               "must be >= 0 (or null = the arm's own)")
        check(self.grad_clip is None or self.grad_clip >= 0, "eval.protocol.grad_clip", self.grad_clip,
               "must be >= 0 (or null = the arm's own)")


@dataclass
class ConvEvalConfig:
    every: int = 1
    """Compute ``metrics`` every this many epochs (and after the last)."""
    metrics: list[str] = field(default_factory=lambda: ["energy_gap", "ess", "fid_domain", "kid_domain"])
    """Per-epoch metrics: names of ``ebm.metric_names.OPTIONS`` (``prdc_domain``: precision, recall, density
    and coverage in the domain features)."""
    n_samples: int = 256
    """Samples drawn for the per-epoch metrics and the sample grid."""
    protocol: EvalProtocolConfig = field(default_factory=EvalProtocolConfig)
    """The sampler the ranking metrics (``eval/<metric>``) are computed on; see
    :class:`EvalProtocolConfig`."""
    baseline_resamples: int = 10
    """Floor (training vs held-out images) and ceiling (uniform noise) of FID/KID at n_samples: draws whose
    mean is the floor and whose std is the metric's spread at that N (0 = off). Cached per data set, N,
    network."""
    final: Literal["protocol", "none"] = "protocol"
    """After the last epoch, score ``final_n_samples`` protocol samples as ``final/...`` (``none`` = off)."""
    final_n_samples: int = 1000
    """Samples of the final evaluation, scored against the whole held-out split (a buffer start: one per
    chain)."""
    final_metrics: list[str] = field(default_factory=lambda: ["fid_domain", "kid_domain", "is_domain",
                                                              "prdc_domain", "energy_gap"])
    """Metrics of the final evaluation, from the names ``metrics`` takes."""
    feature_cache: str = ""
    """Folder caching the domain classifier and the metric floors/ceilings (empty = ~/.cache/ebm-cd-study)."""

    def __post_init__(self):
        check(self.every >= 1, "eval.every", self.every, "must be >= 1")
        check(self.n_samples >= 2, "eval.n_samples", self.n_samples, "must be >= 2")
        check(self.baseline_resamples >= 0, "eval.baseline_resamples", self.baseline_resamples,
               "must be >= 0 (0 = off)")
        check(self.final_n_samples >= 2, "eval.final_n_samples", self.final_n_samples, "must be >= 2")
        for key, names in (("eval.metrics", self.metrics), ("eval.final_metrics", self.final_metrics)):
            bad = [m for m in names if m not in OPTIONS]
            check(not bad, key, names, f"has unknown names; choose from {', '.join(OPTIONS)}")


@dataclass
class ConvEBMConfig:
    RUN: ClassVar[str] = "ebm.conv_train:ConvEBMRun"
    kind: Literal["conv_ebm"] = "conv_ebm"
    """Model kind; selects this config class."""
    seed: int = 0
    """Seed of every random draw in the run (init, batches, chains, noise)."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ConvModelConfig = field(default_factory=ConvModelConfig)
    sampler: LangevinConfig = field(default_factory=LangevinConfig)
    train: ConvTrainConfig = field(default_factory=ConvTrainConfig)
    eval: ConvEvalConfig = field(default_factory=ConvEvalConfig)


# --------------------------------------------------------------------------------------------------
# Loading

KINDS: dict[str, type] = {"rbm": RBMConfig, "conv_ebm": ConvEBMConfig}  # the one registry of model kinds


def load_config(path: str | None = None, overrides: list[str] | None = None, base: dict | None = None):
    """Read a YAML config (or start from ``base``), apply ``key=value`` overrides, return the typed config."""
    raw = dict(base or {})
    if path is not None:
        raw = deep_merge(raw, read_yaml(path))
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    return from_dict(raw, source=path or "config")


def from_dict(raw: dict, source: str = "config"):
    """A nested mapping -> the typed config of its ``kind`` (default ``rbm``)."""
    kind = raw.get("kind", "rbm")
    if kind not in KINDS:
        raise ConfigError(f"{source}: unknown kind {kind!r}; choose one of {', '.join(sorted(KINDS))}")
    return build(KINDS[kind], raw, source)


def to_dict(cfg) -> dict:
    """Plain nested dict of YAML-safe values (tuples become lists)."""
    return dataclasses.asdict(cfg, dict_factory=lambda items: {k: plain(v) for k, v in items})
