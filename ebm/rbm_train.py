"""RBM training run: CD-k (Hinton 2002) and PCD-k (Tieleman 2008), one epoch at a time.

:class:`RBMRun` owns everything a run needs (data, model, optimiser, persistent chains, RNG) so the CLI
and the Ray trainable drive it the same way: ``train_epoch()`` -> metrics, ``state_dict()`` -> checkpoint.
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from ebm import diagnostics, likelihood
from ebm.config import ConfigError, RBMConfig, to_dict
from ebm.data import binarize, flatten, image_shape, load_images
from ebm.devices import resolve_device
from ebm.rbm import RBM, gibbs, sample_bernoulli
from ebm.rng import BernoulliStream, Rng, seed_for, torch_generator
from ebm.runs import finite_parameters, finite_signals

_HEALTH_ROWS = 1000  # rows of train/test data used for the per-epoch health metrics
_TEST_BINARIZE_SEED = 1234  # stochastic binarization of the held-out set is drawn once, with this seed
EXACT_MAX_UNITS = 25  # enumerate at most 2^25 states in evaluate (minutes on a CPU)
EVAL_METRICS = ("exact", "ais", "recon", "pll", "fe_gap", "ess")
# purposes of the evaluation streams (ebm.rng.seed_for): none shares its draws with another or with training
ESS_STREAM = "rbm chain diagnostics"  # + the epoch
FINAL_STREAM = "rbm final evaluation"
EVALUATE_STREAM = "rbm evaluate"  # python -m ebm evaluate --seed


class RBMRun:
    """A CD-k / PCD-k training run of a Bernoulli RBM."""

    # best.pt: never chosen by an AIS value flagged unreliable
    best_metric = ("eval/reliable_log_likelihood", "max")

    def __init__(self, cfg: RBMConfig, train_images: Tensor | None = None, test_images: Tensor | None = None):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        d, m = cfg.data, cfg.model
        if train_images is None:
            train_images = load_images(d.name, d.root, "train", d.download)
        if test_images is None:
            test_images = load_images(d.name, d.root, "test", d.download)
        self.image_shape = tuple(train_images.shape[1:]) or image_shape(d.name)
        x = flatten(train_images)
        if d.limit:
            x = x[: d.limit]
        if x.shape[1] != m.n_visible:
            raise ConfigError(f"model.n_visible={m.n_visible} but data set {d.name!r} has {x.shape[1]} "
                              f"pixels; set model.n_visible={x.shape[1]}")
        self.train_x = x.to(self.device)  # (N, V) intensities in [0, 1]
        test_gen = torch.Generator().manual_seed(_TEST_BINARIZE_SEED)
        self.test_v = binarize(flatten(test_images), d.binarize, test_gen).to(self.device)  # (M, V), fixed

        # One stream for the run: SFC64 bits for every Bernoulli draw, its torch generator for the rest
        # (permutations, row picks). Evaluations draw from streams of their own, seeded from cfg.seed.
        self.stream = BernoulliStream(cfg.seed, self.device)
        self.gen = self.stream.generator
        torch.manual_seed(cfg.seed)
        init_gen = torch.Generator().manual_seed(cfg.seed)
        self.rbm = RBM(m.n_visible, m.n_hidden, m.init_std, generator=init_gen).to(self.device)
        self.marginals = self.train_x.mean(0)  # (V,) data marginals: bias init, AIS base rate, centering
        self.rbm.init_visible_bias(self.marginals)

        t = cfg.train
        self.optimizer = torch.optim.SGD([
            {"params": [self.rbm.W], "weight_decay": t.weight_decay},
            {"params": [self.rbm.visible_bias, self.rbm.hidden_bias], "weight_decay": 0.0},
        ], lr=t.lr, momentum=t.momentum)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)

        # Centered gradient (Melchior et al. 2016): visible offset = data mean, hidden offset = running mean.
        self.hidden_offset = torch.full((m.n_hidden,), 0.5, device=self.device)  # (H,)
        self.chains: Tensor | None = None  # (C, V) persistent chains, PCD only
        if cfg.sampler.init == "persistent":
            n = cfg.sampler.n_chains or t.batch_size
            rows = torch.randint(len(self.train_x), (n,), generator=self.gen, device=self.device)
            self.chains = binarize(self.train_x[rows], "stochastic", self.stream)
        self.epoch = 0
        self.status = "ok"

    # --- schedule ------------------------------------------------------------------------------
    def _lr_factor(self, epoch: int) -> float:
        frac = epoch / self.cfg.train.epochs
        return {"constant": 1.0, "linear": 1.0 - frac,
                "cosine": 0.5 * (1.0 + math.cos(math.pi * frac))}[self.cfg.train.lr_schedule]

    # --- training ------------------------------------------------------------------------------
    def train_epoch(self) -> dict:
        """One pass over the training set; returns this epoch's metrics and ``status`` (``ebm.runs.Run``)."""
        if self.status != "ok":
            raise RuntimeError("the run has diverged; restore a checkpoint to go on")
        start = self.epoch
        try:
            metrics = self._train_epoch()
        except (RuntimeError, ValueError, FloatingPointError):  # e.g. exact log Z of NaN weights
            if self.is_finite():
                raise  # a bug, not a divergence
            self.epoch, metrics = start + 1, {"epoch": start + 1}
        if not (self.is_finite() and finite_signals(metrics)):
            self.status = "diverged"
        return {**metrics, "status": self.status}

    def is_finite(self) -> bool:
        return finite_parameters(self.rbm)

    def _train_epoch(self) -> dict:
        cfg = self.cfg
        t0 = time.perf_counter()
        data = binarize(self.train_x, cfg.data.binarize, self.stream)  # (N, V) redrawn every epoch
        order = torch.randperm(len(data), generator=self.gen, device=self.device)
        B = cfg.train.batch_size
        for start in range(0, len(data), B):
            self.step(data[order[start:start + B]])
        self.scheduler.step()
        self.epoch += 1
        metrics = {"epoch": self.epoch, "train/lr": self.optimizer.param_groups[0]["lr"],
                   "train/epoch_seconds": time.perf_counter() - t0}
        metrics["train/examples_per_second"] = len(data) / metrics["train/epoch_seconds"]
        metrics.update(self.health())
        evaluating = self.epoch % cfg.eval.every == 0 or self.epoch == cfg.train.epochs
        if cfg.eval.log_likelihood != "none" and evaluating:
            metrics.update(self.heldout_log_likelihood())
        if cfg.eval.ess_steps and evaluating:
            # a stream of its own, so switching diagnostics on leaves the training trajectory as it was
            gen = BernoulliStream(seed_for(cfg.seed, f"{ESS_STREAM} {self.epoch}"), self.device)
            d = self.chain_diagnostics(cfg.eval.ess_chains, cfg.eval.ess_steps, gen)
            metrics.update({"eval/ess": d["ess/free_energy"], "eval/tau": d["ess/tau"]})
        if self.epoch == cfg.train.epochs and cfg.eval.final != "none":
            metrics.update(self.final_evaluation())
        return metrics

    @torch.no_grad()
    def step(self, v0: Tensor) -> None:
        """One CD-k / PCD-k parameter update from the data batch ``v0`` (B, V)."""
        rbm, s = self.rbm, self.cfg.sampler
        ph0 = torch.sigmoid(rbm.hidden_logits(v0))  # (B, H) positive phase, Rao-Blackwellised
        if self.chains is None:
            vk, phk = gibbs(rbm, v0, s.k, self.stream, ph=ph0)  # CD-k: chains start at the data
        else:
            vk, phk = gibbs(rbm, self.chains, s.k, self.stream)  # PCD-k: chains persist across updates
            self.chains = vk
        if self.cfg.model.centering:
            mu, lam = self.marginals, self.hidden_offset
            dW = ((v0 - mu).t() @ (ph0 - lam)).div_(len(v0))
            dW.sub_((vk - mu).t() @ (phk - lam), alpha=1.0 / len(vk))  # (V, H)
            db = v0.mean(0) - vk.mean(0) - dW @ lam
            dc = ph0.mean(0) - phk.mean(0) - dW.t() @ mu
            lam.lerp_(ph0.mean(0), self.cfg.model.centering_rate)
        else:
            dW = (v0.t() @ ph0).div_(len(v0))
            dW.sub_(vk.t() @ phk, alpha=1.0 / len(vk))  # (V, H)
            db = v0.mean(0) - vk.mean(0)
            dc = ph0.mean(0) - phk.mean(0)
        # SGD minimises, so the gradient of -log-likelihood is minus the CD estimate.
        rbm.W.grad, rbm.visible_bias.grad, rbm.hidden_bias.grad = dW.neg_(), db.neg_(), dc.neg_()
        self.optimizer.step()

    # --- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def health(self) -> dict:
        """Cheap per-epoch signals (Hinton 2010, practical guide 5-6)."""
        rbm = self.rbm
        train_v = binarize(self.train_x[:_HEALTH_ROWS], self.cfg.data.binarize, self.stream)
        test_v = self.test_v[:_HEALTH_ROWS]
        ph = torch.sigmoid(rbm.hidden_logits(test_v))
        recon = torch.sigmoid(rbm.visible_logits(sample_bernoulli(ph, self.stream)))
        return {
            "train/recon_error": float(((recon - test_v) ** 2).sum(1).mean()),
            "train/pseudo_log_likelihood": likelihood.pseudo_log_likelihood(rbm, test_v, generator=self.gen),
            # Held-out minus training free energy: grows when the model overfits (guide sec. 6).
            "train/free_energy_gap": float(rbm.free_energy(test_v).mean() - rbm.free_energy(train_v).mean()),
            "train/weight_norm": float(rbm.W.norm()),
        }

    def heldout_log_likelihood(self, method: str | None = None) -> dict:
        """Mean held-out log-likelihood, exact where affordable, else AIS with the per-epoch schedule, with
        its weight ESS and ``eval/reliable``: exact, or AIS with weight ESS >= ``ebm.ais.MIN_WEIGHT_ESS``.
        ``eval/reliable_log_likelihood`` is the value where reliable and missing (with the reason) where not:
        what ASHA and Optuna steer by, so no search decision rests on a value the run itself cannot vouch
        for."""
        e = self.cfg.eval
        method = method or e.log_likelihood
        res = likelihood.estimate_log_likelihood(self.rbm, self.test_v, self.marginals, method=method,
                                                 n_betas=e.ais_betas, n_chains=e.ais_chains,
                                                 generator=self.stream)
        if "exact/log_likelihood" in res:
            ll = res["exact/log_likelihood"]
            return {"eval/log_likelihood": ll, "eval/log_z": res["exact/log_z"], "eval/reliable": True,
                    "eval/reliable_log_likelihood": ll, "eval/log_likelihood_method": "exact"}
        ll, reliable = res["ais/log_likelihood"], res["ais/reliable"]
        out = {"eval/log_likelihood": ll, "eval/log_z": res["ais/log_z"],
               "eval/log_likelihood_low": res["ais/log_likelihood_low"],
               "eval/log_likelihood_high": res["ais/log_likelihood_high"],
               "eval/weight_ess": res["ais/weight_ess"], "eval/reliable": reliable,
               "eval/reliable_log_likelihood": ll if reliable else None, "eval/log_likelihood_method": "ais"}
        if not reliable:
            out["eval/reliable_log_likelihood/missing"] = res["ais/note"]
        return out

    def final_evaluation(self) -> dict:
        """The last model's held-out log-likelihood as a paper would quote it, keyed ``final/...``: exact when
        min(V, H) <= 25, else the bracket of ``ebm.likelihood.final_log_likelihood``: forward AIS rerun with
        more betas until reliable or ``eval.final_ais_rounds`` are spent (``final/log_likelihood``, labelled
        by ``final/reliable``), and RAISE on ``eval.final_raise_images`` held-out images
        (``final/raise_...``). Draws come from a stream of its own, so the evaluation never changes the
        training stream."""
        e, n_units = self.cfg.eval, min(self.rbm.n_visible, self.rbm.n_hidden)
        method = e.final if e.final != "auto" else ("exact" if n_units <= EXACT_MAX_UNITS else "ais")
        t0 = time.perf_counter()
        if method == "exact":
            res = likelihood.estimate_log_likelihood(self.rbm, self.test_v, self.marginals, method="exact")
            res["exact/reliable"] = True
        else:
            res = self._bracket(BernoulliStream(seed_for(self.cfg.seed, FINAL_STREAM), self.device))
        out = {"final/method": method, "final/epoch": self.epoch}
        for key, value in res.items():
            group, name = key.split("/", 1)
            out[f"final/{name}" if group in ("exact", "ais") else f"final/{group}_{name}"] = value
        out["final/seconds"] = time.perf_counter() - t0
        return out

    def evaluate(self, names: list[str] | None = None, ess_chains: int = 100, ess_steps: int = 1000,
                 seed: int | None = None) -> dict:
        """Metrics of the current model by name, as ``evaluate``'s JSON: see ``EVAL_METRICS``. ``ais`` is the
        final evaluation's bracket at the config's ``eval.final_*`` settings. AIS, RAISE and the chain
        diagnostics draw from a stream of their own, seeded by ``seed`` (default: the config's), so repeats
        differ by seed only."""
        affordable = min(self.rbm.n_visible, self.rbm.n_hidden) <= likelihood.AUTO_EXACT_MAX_UNITS
        names = names or ["exact" if affordable else "ais", "recon", "pll", "fe_gap"]
        unknown = [n for n in names if n not in EVAL_METRICS]
        if unknown:
            raise ConfigError(f"unknown RBM metric(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(EVAL_METRICS)}")
        gen = BernoulliStream(seed_for(self.cfg.seed if seed is None else seed, EVALUATE_STREAM), self.device)
        out: dict = {"data": self.cfg.data.name, "epoch": self.epoch}
        if "exact" in names:
            if min(self.rbm.n_visible, self.rbm.n_hidden) <= EXACT_MAX_UNITS:
                out.update(likelihood.estimate_log_likelihood(self.rbm, self.test_v, self.marginals,
                                                              method="exact"))
            else:
                out.update({"exact/log_z": None, "exact/log_likelihood": None, "exact/missing_reason":
                            f"enumeration needs 2^{min(self.rbm.n_visible, self.rbm.n_hidden)} states; use "
                            "ais"})
        if "ais" in names:
            out.update(self._bracket(gen))
        health = self.health()
        if "recon" in names:
            out["recon_error"] = health["train/recon_error"]
        if "pll" in names:
            out["pseudo_log_likelihood"] = health["train/pseudo_log_likelihood"]
        if "fe_gap" in names:
            out["free_energy_gap"] = health["train/free_energy_gap"]
        if "ess" in names:
            out.update(self.chain_diagnostics(ess_chains, ess_steps, gen))
        return out

    def _bracket(self, generator: Rng) -> dict:
        """``ebm.likelihood.final_log_likelihood`` at the config's ``eval.final_*`` settings."""
        e = self.cfg.eval
        return likelihood.final_log_likelihood(self.rbm, self.test_v, self.marginals, e.final_ais_chains,
                                               e.final_ais_betas, e.final_ais_rounds, e.final_raise_images,
                                               e.final_raise_chains, e.final_raise_betas, generator)

    @torch.no_grad()
    def chain_diagnostics(self, n_chains: int, steps: int, generator: Rng = None) -> dict:
        """ESS and integrated autocorrelation time of F(v) along Gibbs chains started from the data."""
        gen = generator or self.stream
        rows = torch.randint(len(self.train_x), (n_chains,), generator=torch_generator(gen),
                             device=self.device)
        v = binarize(self.train_x[rows], "stochastic", gen)
        trace = torch.empty(steps, n_chains)  # (T, C)
        for t in range(steps):
            v, _ = gibbs(self.rbm, v, 1, gen)
            trace[t] = self.rbm.free_energy(v).cpu()
        return {"ess/free_energy": diagnostics.effective_sample_size(trace),
                "ess/tau": diagnostics.integrated_autocorr_time(trace),
                "ess/chains": n_chains, "ess/steps": steps}

    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None) -> Tensor:
        """``n`` images (n, C, H, W): p(v | h) after ``steps`` Gibbs sweeps from data-marginal noise."""
        steps = steps or self.cfg.eval.sample_steps
        v0 = sample_bernoulli(self.marginals.expand(n, -1), self.stream)
        _, ph = gibbs(self.rbm, v0, steps, self.stream)
        h = sample_bernoulli(ph, self.stream)
        return torch.sigmoid(self.rbm.visible_logits(h)).reshape(n, *self.image_shape).cpu()

    # --- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": to_dict(self.cfg),
            "epoch": self.epoch,
            "model": self.rbm.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "chains": self.chains,
            "marginals": self.marginals,
            "hidden_offset": self.hidden_offset,
            "rng": self.stream.state_dict(),
            "status": self.status,
        }

    @staticmethod
    @torch.no_grad()
    def sample_checkpoint(state: dict, n: int, steps: int, seed: int = 0) -> Tensor:
        """Sample ``n`` images from a checkpoint's RBM without loading any data set."""
        m = state["model"]
        V, H = m["W"].shape
        rbm = RBM(V, H)
        rbm.load_state_dict(m)
        gen = BernoulliStream(seed)
        v0 = sample_bernoulli(state["marginals"].cpu().expand(n, -1), gen)
        _, ph = gibbs(rbm, v0, steps, gen)
        v = torch.sigmoid(rbm.visible_logits(sample_bernoulli(ph, gen)))
        return v.reshape(n, *_square_image(state, V))

    def load_state_dict(self, state: dict) -> None:
        self.rbm.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.chains = None if state["chains"] is None else state["chains"].to(self.device)
        self.hidden_offset = state["hidden_offset"].to(self.device)
        self.stream.load_state_dict(state["rng"])
        self.status = state.get("status", "ok")
        self.epoch = int(state["epoch"])


def _square_image(state: dict, n_pixels: int) -> tuple[int, int, int]:
    name = state["config"]["data"]["name"]
    shape = image_shape(name)
    if shape[0] * shape[1] * shape[2] == n_pixels:
        return shape
    side = math.isqrt(n_pixels)
    return (1, side, side) if side * side == n_pixels else (1, 1, n_pixels)
