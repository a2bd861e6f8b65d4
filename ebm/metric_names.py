"""The numeric metrics a run of each kind reports, by name, from its config alone (no data, no model).

Sweeps check their ``metric`` and ``rank_metric`` against this before Ray starts, so a typo such as
``eval/log_likelihod`` is one line at ``--dry-run`` instead of every trial failing at its first evaluation.
tests/test_metric_names.py trains one tiny epoch of each kind and checks that everything it reports is
listed here, so the list cannot drift from the runs.
"""

from __future__ import annotations

RBM_TRAIN = ("lr", "epoch_seconds", "examples_per_second", "recon_error", "pseudo_log_likelihood",
             "free_energy_gap", "weight_norm")
RBM_EVAL = ("log_likelihood", "log_z", "log_likelihood_low", "log_likelihood_high")
RBM_FINAL = ("log_likelihood", "log_z", "log_likelihood_low", "log_likelihood_high", "log_z_low", "log_z_high",
             "weight_ess", "chains", "betas", "seconds", "epoch", "reverse_ais_log_z",
             "reverse_ais_log_likelihood", "reverse_ais_weight_ess")

CONV_TRAIN = ("train/loss", "train/energy_data", "train/energy_gap", "train/grad_norm", "train/epoch_seconds",
              "train/images_per_second", "sampler/energy")
PRDC_DOMAIN = ("precision_domain", "recall_domain", "density_domain", "coverage_domain")
# each eval.metrics (and eval.final_metrics) entry -> the names it reports (eval/, eval/as_trained/, final/)
CONV_EVAL = {"energy_gap": ("energy_gap", "energy_data", "energy_samples"), "ess": ("ess", "tau"),
             "fid_domain": ("fid_domain",), "kid_domain": ("kid_domain",), "is_domain": ("is_domain",),
             "prdc_domain": PRDC_DOMAIN, "fid_inception": ("fid_inception",), "kid_inception": ("kid_inception",),
             "is": ("is",), "lpips": ("lpips",)}
# these also report where they sit between their floor and ceiling (ebm.metrics.baselines)
PLACED = ("fid_domain", "kid_domain", "is_domain", *PRDC_DOMAIN)
PLACEMENT = ("_floor", "_ceiling", "_spread", "_position")
CONV_FINAL = ("seconds", "n_samples", "epoch")  # final/ names of every final evaluation, beside its metrics


def reported(flat: dict) -> set[str]:
    """Numeric metric names a run of the flat (dotted-key) config ``flat`` can report."""
    if flat.get("kind") == "rbm":
        names = {f"train/{n}" for n in RBM_TRAIN} | {f"eval/{n}" for n in RBM_EVAL}
        names |= {f"final/{n}" for n in RBM_FINAL}
        if flat.get("eval.ess_steps"):
            names |= {"eval/ess", "eval/tau"}
        return names
    names = set(CONV_TRAIN) | _conv_scored("eval/", flat.get("eval.metrics") or (), as_trained=True)
    if flat.get("eval.final", "protocol") != "none":
        names |= {f"final/{n}" for n in CONV_FINAL}
        names |= _conv_scored("final/", flat.get("eval.final_metrics") or (), as_trained=False)
    return names


def _conv_scored(prefix: str, metrics, as_trained: bool) -> set[str]:
    """What a conv evaluation of ``metrics`` reports under ``prefix`` (and ``prefix + "as_trained/"``)."""
    names = set()
    for leaf in expand(metrics):
        names.add(f"{prefix}{leaf}")
        if leaf in PLACED:
            names |= {f"{prefix}{leaf}{suffix}" for suffix in PLACEMENT}
        if as_trained:  # the arm's own samples: their value and position (one floor per N and network)
            names.add(f"{prefix}as_trained/{leaf}")
            if leaf in PLACED:
                names.add(f"{prefix}as_trained/{leaf}_position")
    if any(m.endswith("_domain") for m in metrics):
        names.add(f"{prefix}domain_accuracy")
    return names


def expand(metrics) -> list[str]:
    """Conv metric names as asked for (``prdc_domain``) -> the names they report (``precision_domain``, ...)."""
    return [leaf for m in metrics for leaf in CONV_EVAL.get(m, (m,))]
