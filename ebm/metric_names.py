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
# each eval.metrics entry -> the eval/ names it reports (sample metrics also under eval/as_trained/)
CONV_EVAL = {"energy_gap": ("energy_gap", "energy_data", "energy_samples"), "ess": ("ess", "tau"),
             "fid_domain": ("fid_domain",), "kid_domain": ("kid_domain",), "is_domain": ("is_domain",),
             "fid_inception": ("fid_inception",), "kid_inception": ("kid_inception",), "is": ("is",),
             "lpips": ("lpips",)}
PLACED = ("fid_domain", "kid_domain", "is_domain")  # these also report where they sit between floor and ceiling
PLACEMENT = ("_floor", "_ceiling", "_spread", "_position")


def reported(flat: dict) -> set[str]:
    """Numeric metric names a run of the flat (dotted-key) config ``flat`` can report."""
    if flat.get("kind") == "rbm":
        names = {f"train/{n}" for n in RBM_TRAIN} | {f"eval/{n}" for n in RBM_EVAL}
        names |= {f"final/{n}" for n in RBM_FINAL}
        if flat.get("eval.ess_steps"):
            names |= {"eval/ess", "eval/tau"}
        return names
    names = set(CONV_TRAIN)
    metrics = list(flat.get("eval.metrics") or ())
    for m in metrics:
        for leaf in CONV_EVAL.get(m, (m,)):
            names |= {f"eval/{leaf}", f"eval/as_trained/{leaf}"}
            if m in PLACED:
                names |= {f"eval/{leaf}{suffix}" for suffix in PLACEMENT}
                names.add(f"eval/as_trained/{leaf}_position")
    if any(m.endswith("_domain") for m in metrics):
        names.add("eval/domain_accuracy")
    return names
