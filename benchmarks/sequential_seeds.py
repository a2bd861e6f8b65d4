"""Sequential seeds against seeds spent everywhere, on a finished grid sweep's own numbers.

From the experiment folder it reads every configuration's final value per seed, and fits what a seed does
(value = configuration mean + seed effect + noise). Then, many times over, it draws new sweeps from that fit
and counts, for each way of spending seeds, the trials it runs and the share of the report's contrasts it
settles (clear, or within +-resolve: :func:`sweeps.sequential.settled`), deciding with the project's own code:

- every configuration on n seeds, one look at 95%, for n = the first seeds and the most;
- sequential: the first seeds everywhere, then ``--per-round`` more only where a contrast is unsettled, up to
  the most, every look at 95% split over the looks (:func:`analysis.stats.split_level`).

It also prints which configurations the sweep's own first look would have sent more seeds to.

    python benchmarks/sequential_seeds.py results/ablation_langevin_study --resolve 0.05 --per-round 4
    python benchmarks/sequential_seeds.py results/ablation_langevin_study --resolve 0.05 --per-round 4
    --versus-best

Numbers come from the simulation, whose parameters come from the sweep: how it ranks the two ways does not
depend on the CPU.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from analysis import stats
from analysis.frames import load_experiment
from sweeps.sequential import contrasts, settled, unsettled


def sweep_values(path: str) -> tuple[dict, int, str, list]:
    """((configuration, seed) -> final value, number of swept keys, mode, seeds) of a grid sweep's folder."""
    exp = load_experiment(path)
    keys = [k for k in exp.group_keys if k != "config/seed"]
    values = {}
    for _, row in exp.groups().iterrows():
        point = tuple(row[k.removeprefix("config/")] for k in keys)
        for seed, v in exp.by_seed(row).items():
            values[(point, seed)] = float(v)
    seeds = sorted({s for _, s in values})
    return values, len(keys), exp.sweep.mode, seeds


def fit(values: dict) -> tuple[dict, float, float]:
    """Configuration means, the seed effects' SD and the noise SD of value = mean + seed + noise."""
    points, seeds = sorted({p for p, _ in values}, key=repr), sorted({s for _, s in values})
    y = np.array([[values.get((p, s), math.nan) for s in seeds] for p in points])  # (configurations, seeds)
    means = np.nanmean(y, axis=1, keepdims=True)
    seed = np.nanmean(y - means, axis=0, keepdims=True)
    noise = y - means - seed
    dof = max(1, np.isfinite(noise).sum() - len(points) - len(seeds) + 1)
    return ({p: float(m) for p, m in zip(points, means[:, 0], strict=True)}, float(np.nanstd(seed, ddof=1)),
            float(math.sqrt(np.nansum(noise ** 2) / dof)))


def draw(means: dict, seeds, seed_sd: float, noise_sd: float, rng, only=None) -> dict:
    shared = {s: rng.normal(0, seed_sd) for s in seeds}
    return {(p, s): m + shared[s] + rng.normal(0, noise_sd) for p,
            m in means.items() if only is None or p in only
            for s in seeds}


def share_settled(values: dict, n_keys: int, mode: str, resolve: float, at: float) -> float:
    cs = contrasts(values, n_keys, mode, at)
    return float(np.mean([settled(c, resolve) for _, _, c in cs])) if cs else math.nan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", help="a finished grid sweep's folder, e.g. results/ablation_langevin_study")
    ap.add_argument("--resolve", type=float, default=0.03, help="a null within this many units settles")
    ap.add_argument("--most", type=int, default=8, help="most seeds a configuration may run")
    ap.add_argument("--per-round", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--versus-best", action="store_true",
                    help="contrast every configuration with the best one (as a one-key sweep's report does) "
                         "instead of the keys' main effects")
    args = ap.parse_args(argv)

    values, n_keys, mode, seeds = sweep_values(args.experiment)
    n_keys = 1 if args.versus_best else n_keys
    first = len(seeds)
    means, seed_sd, noise_sd = fit(values)
    rounds = [list(range(n, min(n + args.per_round, args.most)))
              for n in range(first, args.most, args.per_round)]
    split = stats.split_level(1 + len(rounds))
    print(f"{args.experiment}: {len(means)} configurations x {first} seeds; seed effect SD {seed_sd:.3g}, "
          f"noise SD {noise_sd:.3g}; resolve {args.resolve}")
    todo = unsettled(values, n_keys, mode, args.resolve, split)
    print(f"its own first look ({stats.ci_name(split)}): {len(todo)} of {len(means)} configurations in "
          f"unsettled contrasts would run seeds {rounds[0] if rounds else []}: {sorted(todo, key=repr)}")

    rng = np.random.default_rng(0)
    rows = {f"{first} seeds everywhere, one look": [], f"{args.most} seeds everywhere, one look": [],
            f"sequential {first} -> {args.most}, {1 + len(rounds)} looks": []}
    names = list(rows)
    for _ in range(args.repeats):
        full = draw(means, range(args.most), seed_sd, noise_sd, rng)
        few = {k: v for k, v in full.items() if k[1] < first}
        rows[names[0]].append((len(few), share_settled(few, n_keys, mode, args.resolve, stats.LEVEL)))
        rows[names[1]].append((len(full), share_settled(full, n_keys, mode, args.resolve, stats.LEVEL)))
        seq = dict(few)
        for add in rounds:
            todo = unsettled(seq, n_keys, mode, args.resolve, split)
            if not todo:
                break
            seq.update({k: v for k, v in full.items() if k[1] in add and k[0] in todo})
        rows[names[2]].append((len(seq), share_settled(seq, n_keys, mode, args.resolve, split)))
    print(f"\n{args.repeats} simulated sweeps drawn from that fit:")
    print(f"{'seeds spent':<36} {'trials (mean)':>14} {'contrasts settled':>18}")
    for name, got in rows.items():
        trials, share = np.array(got).T
        print(f"{name:<36} {trials.mean():>14.1f} {np.nanmean(share):>17.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
