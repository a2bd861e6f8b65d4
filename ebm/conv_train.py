"""Convolutional EBM training run: Langevin negatives from the data (CD-k), a replay buffer (PCD-k) or noise
(short-run MCMC), with the IGEBM loss and a divergence guard.

Loss (Du & Mordatch 2019, eq. 2 plus their energy regulariser):
    L = E(x+) - E(x-) + alpha * (E(x+)^2 + E(x-)^2),   x+ = data + N(0, data.noise_std^2),  x- = Langevin
    samples.
:class:`ConvEBMRun` has the same interface as :class:`ebm.rbm_train.RBMRun`.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import Tensor

from ebm.checkpoint import CheckpointError
from ebm.config import ConvEBMConfig, to_dict
from ebm.conv_ebm import build_energy_net
from ebm.data import load_images
from ebm.devices import resolve_device
from ebm.langevin import ReplayBuffer, init_chains, langevin
from ebm.metric_names import direction
from ebm.metrics.result import MetricUnavailable
from ebm.rng import seed_for
from ebm.runs import finite_parameters, finite_signals

EVAL_SEED = 104729  # evaluation chains' generator: seed and epoch are added to it
# the purpose the final evaluation's stream is seeded by (ebm.rng.seed_for)
FINAL_STREAM = "conv final evaluation"


class ConvEBMRun:
    """A CD-k / PCD-k / short-run training run of a convolutional EBM."""

    def __init__(self, cfg: ConvEBMConfig, train_images: Tensor | None = None,
                 test_images: Tensor | None = None):
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        d, m, s, t = cfg.data, cfg.model, cfg.sampler, cfg.train
        if train_images is None:
            train_images = load_images(d.name, d.root, "train", d.download)
        if test_images is None:
            test_images = load_images(d.name, d.root, "test", d.download)
        if d.limit:
            train_images = train_images[: d.limit]
        self.image_shape = tuple(train_images.shape[1:])
        self.train_x = train_images.to(self.device)  # (N, C, H, W) in [0, 1]
        self.test_x = test_images.to(self.device)

        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.net = build_energy_net(m.net, self.image_shape, m.width or None, m.activation,
                                    m.spectral_norm).to(self.device)
        self.ema_net = copy.deepcopy(self.net).requires_grad_(False) if t.ema else None
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=t.lr, betas=tuple(t.betas))
        self.buffer = (ReplayBuffer(s.buffer_size, s.reinit_prob, self.image_shape, generator=self.gen,
                                    device=self.device) if s.init == "buffer" else None)
        # Langevin steps each buffer slot's chain has run since its last start from noise (the protocol's
        # buffer start can leave out chains restarted a few steps ago: they are noise, not the model's
        # samples)
        self.chain_steps = (torch.zeros(s.buffer_size, dtype=torch.long, device=self.device)
                            if self.buffer is not None else None)
        metrics = cfg.eval.metrics
        # best.pt: by domain coverage where it is measured (what the conv sweeps rank by), else FID/KID
        if "prdc_domain" in metrics:
            best = "eval/coverage_domain"
        else:
            primary = next((n for n in ("kid_domain", "fid_domain", "kid_inception", "fid_inception")
                            if n in metrics),
                           None)
            best = f"eval/{primary}" if primary else "train/loss"
        self.best_metric = (best, direction(best))
        self.epoch = 0
        self.iteration = 0
        self.status = "ok"
        self._order = torch.empty(0, dtype=torch.long, device=self.device)
        self.final_images: Tensor | None = None  # (N, C, H, W) on the CPU: what the final evaluation scored

    # --- training ------------------------------------------------------------------------------
    def _next_batch(self) -> Tensor:
        B = self.cfg.train.batch_size
        if len(self._order) < B:  # reshuffle when the pass is used up
            self._order = torch.randperm(len(self.train_x), generator=self.gen, device=self.device)
        idx, self._order = self._order[:B], self._order[B:]
        return self.train_x[idx]

    def _energy_net(self):
        return self.ema_net if self.ema_net is not None else self.net

    def train_epoch(self) -> dict:
        """One block of updates; a non-finite or exploding energy, or a training signal or weight that is not
        finite, ends the run as ``diverged`` (``ebm.runs.Run``)."""
        cfg, t = self.cfg, self.cfg.train
        if self.status != "ok":
            raise RuntimeError("the run has diverged; restore a checkpoint to go on")
        t0 = time.perf_counter()
        self.final_images = None
        good = self._snapshot()  # restored on divergence, so the last checkpoint stays usable
        n_iter = t.iterations_per_epoch or math.ceil(len(self.train_x) / t.batch_size)
        sums: dict[str, float] = {}
        for _ in range(n_iter):
            step = self.step()
            if step is None:
                self._restore(good)
                self.status = "diverged"
                break
            for k, v in step.items():
                sums[k] = sums.get(k, 0.0) + v
        done = max(1, self.iteration - good["iteration"])
        metrics = {k: v / done for k, v in sums.items()}
        self.epoch += 1
        metrics.update({"epoch": self.epoch, "iteration": self.iteration, "status": self.status,
                        "train/epoch_seconds": time.perf_counter() - t0})
        metrics["train/images_per_second"] = done * t.batch_size / metrics["train/epoch_seconds"]
        if self.status == "ok" and not (self.is_finite() and finite_signals(metrics)):
            self.status = metrics["status"] = "diverged"
        if self.status == "ok" and cfg.eval.metrics and (self.epoch % cfg.eval.every == 0
                                                         or self.epoch == t.epochs):
            metrics.update({f"eval/{k}": v for k, v in self.evaluate(cfg.eval.metrics).items()
                            if k not in ("data", "epoch")})
        if self.status == "ok" and self.epoch == t.epochs and cfg.eval.final != "none":
            metrics.update(self.final_evaluation())
        return metrics

    def step(self) -> dict | None:
        """One update (``accumulation_steps`` batches); None when the guard fires."""
        cfg, s, t = self.cfg, self.cfg.sampler, self.cfg.train
        net = self.net
        stats = {"train/loss": 0.0, "train/energy_gap": 0.0, "train/energy_data": 0.0, "sampler/energy": 0.0}
        for _ in range(t.accumulation_steps):
            batch = self._next_batch()
            x_pos = batch + cfg.data.noise_std * torch.randn(batch.shape, generator=self.gen,
                                                             device=self.device)
            x0, idx = init_chains(s.init, batch, self.buffer, self.gen)
            x_neg = langevin(net, x0, s.k, s.step_size, s.noise_std, grad_clip=s.grad_clip or None,
                             clamp=(0.0, 1.0), generator=self.gen)
            if self.buffer is not None:
                self._count_chain_steps(x0, idx, s.k)
                self.buffer.push(x_neg, idx)
            # one forward and backward for both phases: per-sample energies are independent of the batch
            e_pos, e_neg = net(torch.cat([x_pos, x_neg])).split(len(x_pos))  # (B,), (B,)
            loss = e_pos.mean() - e_neg.mean() + t.alpha * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
            worst = torch.maximum(e_pos.abs().max(), e_neg.abs().max())
            if not (torch.isfinite(loss) and worst <= t.energy_bound):
                return None
            (loss / t.accumulation_steps).backward()
            stats["train/loss"] += loss.item() / t.accumulation_steps
            stats["train/energy_gap"] += (e_pos.mean() - e_neg.mean()).item() / t.accumulation_steps
            stats["train/energy_data"] += e_pos.mean().item() / t.accumulation_steps
            stats["sampler/energy"] += e_neg.mean().item() / t.accumulation_steps
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), t.grad_clip or math.inf)
        if not torch.isfinite(norm):
            return None
        stats["train/grad_norm"] = float(norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema_net is not None:
            with torch.no_grad():
                for pe, p in zip(self.ema_net.parameters(), net.parameters(), strict=True):
                    pe.lerp_(p, 1.0 - t.ema)
        self.iteration += 1
        return stats

    def _count_chain_steps(self, x0: Tensor, idx: Tensor | None, k: int) -> None:
        """Before ``push``: slots filled in ring order, and slots whose start ReplayBuffer.sample replaced by
        noise (reinit_prob), begin a new chain of k steps; the others' chains grow by k."""
        b = self.buffer
        if idx is None:  # filling: fresh noise chains go to the next ring slots
            slots = (b.next + torch.arange(len(x0), device=self.device)) % b.capacity
            self.chain_steps[slots] = k
            return
        # (B,): a kept start is an exact copy of its slot
        restarted = (x0 != b.samples[idx]).flatten(1).any(1)
        self.chain_steps[idx] = torch.where(restarted, k, self.chain_steps[idx] + k)

    # --- sampling and evaluation ---------------------------------------------------------------
    def eval_generator(self) -> torch.Generator:
        """Evaluation's own random stream, seeded by (seed, epoch). Evaluating never moves the training run's
        draws, and at one seed and epoch every arm of a sweep starts its protocol chains from the same noise
        with the same Langevin noise (common random numbers: arms differ by their networks, not their
        luck)."""
        return torch.Generator(device=self.device).manual_seed(EVAL_SEED + 1_000_003 * self.cfg.seed
                                                               + self.epoch)

    def protocol_samples(self, n: int, generator: torch.Generator, record_energy: bool = False):
        """``n`` samples (n, C, H, W) of the common evaluation sampler ``eval.protocol``, or with
        ``record_energy`` also the energy trace (steps, n). Raises MetricUnavailable when the protocol does
        not apply to this arm (a buffer start without a filled replay buffer)."""
        p, s = self.cfg.eval.protocol, self.cfg.sampler
        if p.init == "as_trained":
            return self.as_trained_samples(n, generator, record_energy)
        x0 = self._eval_starts(p.init, n, generator, as_trained=False)
        return self._chains(x0, p.steps or s.k, *self._protocol_settings(), record_energy, generator)

    def as_trained_samples(self, n: int, generator: torch.Generator, record_energy: bool = False):
        """What the arm's training sampler hands the loss now: CD-k from training images, PCD-k from
        replay-buffer states with ``reinit_prob`` of them restarted from noise (all noise while the buffer
        fills), short-run from noise; ``sampler.k`` steps with the training settings. Nothing is written back
        to the buffer."""
        s = self.cfg.sampler
        x0 = self._eval_starts(s.init, n, generator, as_trained=True)
        return self._chains(x0, s.k, s.step_size, s.noise_std, s.grad_clip, record_energy, generator)

    def protocol_description(self) -> str:
        p = self.cfg.eval.protocol
        if p.init == "as_trained":
            return f"as trained ({self.as_trained_description()})"
        start = (f"buffer start (chains >= {p.min_chain_steps} steps old, no restarts)" if p.init == "buffer"
                 else f"{p.init} start")
        return f"{start}, {self._protocol_steps()}"

    def _protocol_settings(self) -> tuple[float, float, float]:
        """The common sampler's (step size, noise std, grad clip): the protocol's, or the arm's own where it
        is null."""
        p, s = self.cfg.eval.protocol, self.cfg.sampler
        return _own(p.step_size, s.step_size), _own(p.noise_std, s.noise_std), _own(p.grad_clip, s.grad_clip)

    def _protocol_steps(self) -> str:
        p, s = self.cfg.eval.protocol, self.cfg.sampler
        return (f"{p.steps or s.k} steps, step size {_own(p.step_size, s.step_size):g}, "
                f"noise {_own(p.noise_std, s.noise_std):g}, grad clip {_own(p.grad_clip, s.grad_clip):g}")

    def as_trained_description(self) -> str:
        s = self.cfg.sampler
        start = f"buffer start (reinit {s.reinit_prob:g})" if s.init == "buffer" else f"{s.init} start"
        return (f"{start}, {s.k} steps, step size {s.step_size:g}, noise {s.noise_std:g}, grad clip "
                f"{s.grad_clip:g}")

    def _eval_starts(self, init: str, n: int, gen: torch.Generator, as_trained: bool) -> Tensor:
        """Chain starts (n, C, H, W) drawn with ``gen``; the replay buffer is read, never written. A buffer
        start ``as_trained`` draws as ReplayBuffer.sample does (noise while the buffer fills, then stored
        states with ``reinit_prob`` of them restarted); the protocol's draws chains old enough, with no
        restarts."""
        if init == "data":
            return self.train_x[torch.randint(len(self.train_x), (n,), generator=gen, device=self.device)]
        noise = torch.rand(n, *self.image_shape, generator=gen, device=self.device)  # (n, C, H, W) ~ U[0, 1]
        if init == "noise":
            return noise
        if not as_trained:
            return self._mature_states(n, gen)
        b = self.buffer
        if b is None or not b.full:
            return noise
        pick = (torch.randperm(b.capacity, generator=gen, device=self.device)[:n] if n <= b.capacity else
                torch.randint(b.capacity, (n,), generator=gen, device=self.device))  # as ReplayBuffer.sample
        restart = torch.rand(n, generator=gen, device=self.device) < b.reinit_prob  # (n,)
        return torch.where(restart.view(-1, 1, 1, 1), noise, b.samples[pick])

    def _mature_states(self, n: int, gen: torch.Generator) -> Tensor:
        """n distinct buffer states whose chains have run >= eval.protocol.min_chain_steps Langevin steps
        since their last start from noise; MetricUnavailable when fewer than n have (never duplicates: a
        repeated image would make KID's within-set term, and so the score, look worse than the chains are)."""
        b, need = self._filled_buffer(), self.cfg.eval.protocol.min_chain_steps
        steps = self.chain_steps[: len(b)]  # (size,)
        eligible = (steps >= need).nonzero().squeeze(1)
        if len(eligible) < n:
            raise MetricUnavailable(f"{len(eligible)} of the buffer's {len(b)} chains have run >= {need} "
                                    "Langevin steps since their start from noise "
                                    f"(eval.protocol.min_chain_steps), fewer than eval.n_samples={n}; train "
                                    "longer or lower either")
        pick = eligible[torch.randperm(len(eligible), generator=gen, device=self.device)[:n]]
        return b.samples[pick]  # (n, C, H, W), a copy

    def _filled_buffer(self) -> ReplayBuffer:
        if self.buffer is None or len(self.buffer) == 0:
            raise MetricUnavailable("eval.protocol.init=buffer needs a replay buffer with states; this arm "
                                    f"trains with sampler.init={self.cfg.sampler.init} (use protocol init "
                                    "noise)")
        return self.buffer

    def final_generator(self) -> torch.Generator:
        """The final evaluation's own random stream, seeded by (seed, purpose): it never coincides with a
        per-epoch stream (``eval_generator``) and, like them, is shared by every arm of a sweep at one
        seed."""
        return torch.Generator(device=self.device).manual_seed(seed_for(self.cfg.seed, FINAL_STREAM))

    def final_samples(self, n: int, generator: torch.Generator, record_energy: bool = False
                      ) -> tuple[Tensor, Tensor | None, str]:
        """The final evaluation's samples (n', C, H, W), their energy trace (steps, n') when
        ``record_energy``, and how they were drawn: the protocol, except that a buffer start takes every chain
        it needs (``_final_starts``) where the per-epoch protocol would refuse; n' = n but for a buffer
        holding fewer chains than n."""
        p = self.cfg.eval.protocol
        if p.init != "buffer":
            drawn = self.protocol_samples(n, generator, record_energy)
            samples, energies = drawn if isinstance(drawn, tuple) else (drawn, None)
            return samples, energies, self.protocol_description()
        x0, _, start = self._final_starts(n, generator)
        s = self.cfg.sampler
        drawn = self._chains(x0, p.steps or s.k, *self._protocol_settings(), record_energy, generator)
        samples, energies = drawn if isinstance(drawn, tuple) else (drawn, None)
        return samples, energies, f"{start}, {self._protocol_steps()}"

    def _final_starts(self, n: int, gen: torch.Generator) -> tuple[Tensor, Tensor, str]:
        """min(n, buffer size) distinct buffer chains (n', C, H, W), each run >= eval.protocol.min_chain_steps
        Langevin steps since its last start from noise, their ages in steps (n',), and a description.

        Every mature chain is used first (a random n' of them when there are more); when too few are, the rest
        are random younger chains, each first run min_chain_steps more steps with the protocol's step size,
        noise and clip, so that none is scored as noise. The buffer and its chain ages are read, never
        written.
        """
        p = self.cfg.eval.protocol
        b, need = self._filled_buffer(), p.min_chain_steps
        size = len(b)
        n_used = min(n, size)
        ages = self.chain_steps[:size]  # (size,)
        mature, young = (ages >= need).nonzero().squeeze(1), (ages < need).nonzero().squeeze(1)
        mature = mature[torch.randperm(len(mature), generator=gen, device=self.device)[:n_used]]
        young = young[torch.randperm(len(young), generator=gen, device=self.device)[:n_used - len(mature)]]
        x0, age = b.samples[mature], ages[mature]  # (m, C, H, W) copies, (m,)
        if len(young):
            grown = self._chains(b.samples[young], need, *self._protocol_settings(), False, gen)
            x0, age = torch.cat([x0, grown]), torch.cat([age, ages[young] + need])
            mixed = torch.randperm(len(x0), generator=gen, device=self.device)  # a grid's first n: both kinds
            x0, age = x0[mixed], age[mixed]
        what = (f"all {size} chains of the buffer (fewer than the {n} asked for)" if n > size else
                f"{n_used} distinct chains of the buffer's {size}")
        topped = (f": {len(mature)} had run >= {need} steps since their start from noise, {len(young)} "
                  f"younger ones first ran {need} more at the protocol's settings" if len(young) else
                  f", each run >= {need} steps since its start from noise")
        return x0, age, f"buffer start ({what}{topped}; no restarts)"

    def _chains(self, x0: Tensor, steps: int, step_size: float, noise_std: float, grad_clip: float,
                record_energy: bool, gen: torch.Generator):
        return langevin(self._energy_net(), x0, steps, step_size, noise_std, grad_clip=grad_clip or None,
                        clamp=(0.0, 1.0), record_energy=record_energy, generator=gen)

    def sample(self, n: int) -> Tensor:
        """The samples the run is ranked on, for sample grids: after the final evaluation, the first n it
        scored; else the protocol's, or the arm's own when the protocol does not apply to it."""
        if self.final_images is not None and n <= len(self.final_images):
            return self.final_images[:n]
        gen = self.eval_generator()
        try:
            return self.protocol_samples(n, gen).cpu()
        except MetricUnavailable:
            return self.as_trained_samples(n, gen).cpu()

    def evaluate(self, names: list[str] | None = None) -> dict:
        from ebm.conv_eval import evaluate_conv

        return evaluate_conv(self, names or list(self.cfg.eval.metrics))

    def final_evaluation(self) -> dict:
        """``final/...`` metrics of the last model (:func:`ebm.conv_eval.final_evaluation`); keeps the samples
        it scored for the sample grid."""
        from ebm.conv_eval import final_evaluation

        metrics, self.final_images = final_evaluation(self)
        return metrics

    def is_finite(self) -> bool:
        return finite_parameters(self.net)

    # --- checkpoints ---------------------------------------------------------------------------
    def _snapshot(self) -> dict:
        return copy.deepcopy({"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                              "ema": self.ema_net.state_dict() if self.ema_net is not None else None,
                              "buffer": self.buffer.state_dict() if self.buffer is not None else None,
                              "chain_steps": self.chain_steps, "iteration": self.iteration})

    def _restore(self, snap: dict) -> None:
        self.net.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(snap["optimizer"])
        if self.ema_net is not None:
            self.ema_net.load_state_dict(snap["ema"])
        if self.buffer is not None:
            self.buffer.load_state_dict(snap["buffer"])
        if self.chain_steps is not None:
            self.chain_steps.copy_(snap["chain_steps"])
        self.iteration = snap["iteration"]

    def state_dict(self) -> dict:
        return {
            "config": to_dict(self.cfg),
            "epoch": self.epoch,
            "iteration": self.iteration,
            "status": self.status,
            "model": self.net.state_dict(),
            "ema": self.ema_net.state_dict() if self.ema_net is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict() if self.buffer is not None else None,
            "chain_steps": self.chain_steps.cpu() if self.chain_steps is not None else None,
            "generator": self.gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            # the rest of the current pass, so a resumed run sees the same batches
            "order": self._order.cpu(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        if self.ema_net is not None and state.get("ema") is not None:
            self.ema_net.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.buffer is not None and state.get("buffer") is not None:
            self.buffer.load_state_dict(state["buffer"])
            self.chain_steps.copy_(_chain_ages(state).to(self.device))
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.status = state.get("status", "ok")
        self._order = state["order"].to(self.device)

    @staticmethod
    def sample_checkpoint(state: dict, n: int, steps: int, seed: int = 0) -> Tensor:
        """Langevin samples from a checkpoint's network: from its replay buffer when it has one (only chains
        at least ``eval.protocol.min_chain_steps`` old, when any are), else noise."""
        from ebm.config import from_dict

        cfg = from_dict(state["config"])
        m, s = cfg.model, cfg.sampler
        buf = state.get("buffer")
        shape = tuple(buf["samples"].shape[1:]) if buf is not None and len(buf["samples"]) else None
        if shape is None:
            from ebm.data import image_shape

            shape = image_shape(cfg.data.name)
        net = build_energy_net(m.net, shape, m.width or None, m.activation, m.spectral_norm)
        net.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
        gen = torch.Generator().manual_seed(seed)
        if buf is not None and len(buf["samples"]):
            pool = buf["samples"]  # (size, C, H, W)
            ages, need = _chain_ages(state), cfg.eval.protocol.min_chain_steps
            if need:  # as the protocol: not chains restarted from noise a few steps ago
                old = (ages[: len(pool)] >= need).nonzero().squeeze(1)
                pool = pool[old] if len(old) else pool
            x0 = pool[torch.randint(len(pool), (n,), generator=gen)]
        else:
            x0 = torch.rand(n, *shape, generator=gen)
        return langevin(net, x0, steps, s.step_size, s.noise_std, grad_clip=s.grad_clip or None,
                        clamp=(0.0, 1.0), generator=gen)


def _chain_ages(state: dict) -> Tensor:
    """A checkpoint's chain ages (Langevin steps per buffer slot since its last start from noise)."""
    if state.get("chain_steps") is None:
        raise CheckpointError("the checkpoint holds a replay buffer without its chain ages: it was written "
                              "before b06aaeb (2026-11-30) saved them; train it again with this version")
    return state["chain_steps"]


def _own(value: float | None, own: float) -> float:
    """A protocol setting, or the arm's own where the protocol leaves it null."""
    return own if value is None else value
