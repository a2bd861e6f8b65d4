"""Convolutional EBM training run: Langevin negatives from the data (CD-k), a replay buffer (PCD-k) or noise
(short-run MCMC), with the IGEBM loss and a divergence guard.

Loss (Du & Mordatch 2019, eq. 2 plus their energy regulariser):
    L = E(x+) - E(x-) + alpha * (E(x+)^2 + E(x-)^2),   x+ = data + N(0, data.noise_std^2),  x- = Langevin
    samples.
:class:`ConvEBMRun` has the same interface as :class:`ebm.rbm_train.RBMRun`. How its samples are drawn for
evaluation is :mod:`ebm.conv_protocol`'s, how they are scored :mod:`ebm.conv_eval`'s.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import Tensor

from ebm.checkpoint import CheckpointError
from ebm.config import ConvEBMConfig, from_dict, to_dict
from ebm.conv_ebm import build_energy_net
from ebm.conv_protocol import checkpoint_samples, grid_samples
from ebm.data import load_images
from ebm.devices import resolve_device
from ebm.langevin import ReplayBuffer, init_chains, langevin
from ebm.metric_names import direction
from ebm.runs import finite_parameters, finite_signals


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
        # with its chains' ages: the protocol's buffer start can leave out chains restarted a few steps ago
        # (they are noise, not the model's samples)
        self.buffer = (ReplayBuffer(s.buffer_size, s.reinit_prob, self.image_shape, generator=self.gen,
                                    device=self.device) if s.init == "buffer" else None)
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

    @property
    def energy_net(self) -> torch.nn.Module:
        """The energy samples are drawn from and scored by: the EMA network when the run keeps one."""
        return self.ema_net if self.ema_net is not None else self.net

    # --- training ------------------------------------------------------------------------------
    def next_batch(self) -> Tensor:
        """The next training batch (B, C, H, W), reshuffling when the pass is used up."""
        B = self.cfg.train.batch_size
        if len(self._order) < B:
            self._order = torch.randperm(len(self.train_x), generator=self.gen, device=self.device)
        idx, self._order = self._order[:B], self._order[B:]
        return self.train_x[idx]

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
            from ebm.conv_eval import final_evaluation

            final, self.final_images = final_evaluation(self)  # the grid shows the samples it scored
            metrics.update(final)
        return metrics

    def step(self) -> dict | None:
        """One update (``accumulation_steps`` batches); None when the guard fires."""
        cfg, s, t = self.cfg, self.cfg.sampler, self.cfg.train
        net = self.net
        stats = {"train/loss": 0.0, "train/energy_gap": 0.0, "train/energy_data": 0.0, "sampler/energy": 0.0}
        for _ in range(t.accumulation_steps):
            batch = self.next_batch()
            x_pos = batch + cfg.data.noise_std * torch.randn(batch.shape, generator=self.gen,
                                                             device=self.device)
            x0, idx = init_chains(s.init, batch, self.buffer, self.gen)
            x_neg = langevin(net, x0, s.k, s.step_size, s.noise_std, grad_clip=s.grad_clip or None,
                             clamp=(0.0, 1.0), generator=self.gen)
            if self.buffer is not None:
                self.buffer.push(x_neg, idx, steps=s.k)
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

    def sample(self, n: int) -> Tensor:
        """The sample grid: :func:`ebm.conv_protocol.grid_samples`."""
        return grid_samples(self, n)

    def evaluate(self, names: list[str] | None = None) -> dict:
        """Metrics of the run by name: :func:`ebm.conv_eval.evaluate_conv`."""
        from ebm.conv_eval import evaluate_conv

        return evaluate_conv(self, names or list(self.cfg.eval.metrics))

    def is_finite(self) -> bool:
        return finite_parameters(self.net)

    # --- checkpoints ---------------------------------------------------------------------------
    def _snapshot(self) -> dict:
        return copy.deepcopy({"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                              "ema": self.ema_net.state_dict() if self.ema_net is not None else None,
                              "buffer": self.buffer.state_dict() if self.buffer is not None else None,
                              "iteration": self.iteration})

    def _restore(self, snap: dict) -> None:
        self.net.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(snap["optimizer"])
        if self.ema_net is not None:
            self.ema_net.load_state_dict(snap["ema"])
        if self.buffer is not None:
            self.buffer.load_state_dict(snap["buffer"])
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
            "buffer": self.buffer.state_dict() if self.buffer is not None else None,  # with its chains' ages
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
            self.buffer.load_state_dict(_buffer_state(state))
        self.gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.status = state.get("status", "ok")
        self._order = state["order"].to(self.device)

    @staticmethod
    def sample_checkpoint(state: dict, n: int, steps: int, seed: int = 0) -> Tensor:
        """Langevin samples from a checkpoint (``python -m ebm sample``):
        :func:`ebm.conv_protocol.checkpoint_samples` of its network (the EMA one when kept) and buffer."""
        weights = state["ema"] if state.get("ema") is not None else state["model"]
        return checkpoint_samples(from_dict(state["config"]), weights, _buffer_state(state), n, steps, seed)


def _buffer_state(state: dict) -> dict | None:
    """A checkpoint's replay-buffer state, which holds its chain ages (Langevin steps per slot since its
    chain's last start from noise); one without them is refused, naming the version that wrote it."""
    buffer = state.get("buffer")
    if buffer is None or "ages" in buffer:
        return buffer
    raise CheckpointError("the checkpoint holds a replay buffer without its chain ages: it was written "
                          "before 49d4f56 (2026-12-05) kept them in the buffer's state; train it again with "
                          "this version")
