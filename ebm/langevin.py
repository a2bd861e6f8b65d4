"""Langevin sampling from p(x) ~ exp(-E(x)), the replay buffer, and chain initialisation.

Update (Welling & Teh 2011, SGLD; with step size and noise as separate knobs as in IGEBM, Du & Mordatch
2019, and JEM, Grathwohl et al. 2020):

    x_{t+1} = clamp( x_t - eta * grad_x E(x_t) + s * eps_t ),   eps_t ~ N(0, I)

with eta = ``step_size`` and s = ``noise_std``. The chain targets exp(-E) only when s^2 = 2 eta (the
"proper" Langevin setting) and eta -> 0; EBM training usually runs far from it (e.g. eta = 10,
s = 0.005), which samples exp(-E / T) at an effective temperature T = s^2 / (2 eta), plus bias.

Chain starts (``init_chains``): ``data`` is CD-k (Hinton 2002), ``buffer`` is PCD-k through a replay
buffer (Tieleman 2008; Du & Mordatch 2019, Sec. 3.1), ``noise`` is short-run MCMC from U[0, 1]
(Nijkamp et al. 2019).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

INITS = ("data", "buffer", "noise")
DEFAULT_REINIT_PROB = 0.05  # IGEBM and JEM restart 5% of buffer chains from noise


@contextlib.contextmanager
def frozen_parameters(module: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Turn ``requires_grad`` off on a module's parameters for the block, then restore each flag.

    ``torch.autograd.grad(e, x)`` alone already computes no weight gradients (the engine prunes them;
    benchmarks/bench_langevin.py measures no speed-up from freezing). Freezing makes the rest certain:
    no graph is recorded for parameter-only work such as spectral norm's W / sigma, and nothing inside
    ``energy`` can write a parameter's ``.grad``. Train/eval mode is left alone.
    """
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)


def input_gradient(energy: Callable[[Tensor], Tensor]) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """``f(x) -> (E(x), grad_x E(x))`` for the energy's current parameters: the network's own hand-written
    backward where it has one (``energy.input_gradient()``, e.g. ``FlatConvEBM``: no graph recorded, cheaper
    on CPU), else autograd. Samples are independent, so the gradient of ``E.sum()`` is each sample's own.
    """
    own = getattr(energy, "input_gradient", None)
    f = own() if callable(own) else None
    if f is not None:
        return f

    def autograd_energy_and_grad(x: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            # shares storage: the caller's in-place update follows the graph's
            x = x.detach().requires_grad_(True)
            e = energy(x)  # (B,)
            (g,) = torch.autograd.grad(e.sum(), x)  # (B, ...); the graph is freed here
        return e.detach(), g

    return autograd_energy_and_grad


def langevin(energy: Callable[[Tensor], Tensor], x0: Tensor, steps: int, step_size: float, noise_std: float,
             grad_clip: float | None = None, clamp: tuple[float, float] | None = (0.0, 1.0),
             record_energy: bool = False, generator: torch.Generator | None = None
             ) -> Tensor | tuple[Tensor, Tensor]:
    """Run ``steps`` Langevin updates from ``x0`` (B, ...) and return the detached end state.

    ``energy`` maps (B, ...) to (B,). ``grad_clip`` caps the L2 norm of each sample's gradient (per
    sample, so one exploding chain does not shrink the others' steps). ``clamp=None`` leaves x
    unbounded. With ``record_energy`` also returns E(x_t) for t = 0 .. steps-1, shape (steps, B): the
    energies the gradients were taken at, so recording costs nothing extra.

    Parameters of ``energy`` never receive gradients: grads are taken w.r.t. x only (``input_gradient``:
    the network's hand-written backward where it has one, else autograd), with the parameters'
    ``requires_grad`` switched off meanwhile and restored afterwards.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if grad_clip is not None and grad_clip <= 0:
        raise ValueError(f"grad_clip must be > 0 or None, got {grad_clip}")
    # a fresh copy, so the caller's x0 is never written to; NHWC for images, matching the conv weights of
    # build_energy_net (see its ``channels_last``), so no reorder happens at every step
    x = x0.detach().clone(memory_format=torch.channels_last if x0.dim() == 4 else torch.preserve_format)
    if clamp is not None:
        x.clamp_(*clamp)
    noise = torch.empty_like(x)  # reused every step: one allocation per call, not per step
    energies = x.new_empty(steps, x.shape[0]) if record_energy else None  # (steps, B)
    energy_and_grad = input_gradient(energy)
    with frozen_parameters(energy), torch.no_grad():
        for t in range(steps):
            e, g = energy_and_grad(x)  # (B,), (B, ...)
            if energies is not None:
                energies[t] = e
            if grad_clip is not None:
                norm = g.flatten(1).norm(dim=1).clamp_min(torch.finfo(g.dtype).tiny)  # (B,)
                g = g * (grad_clip / norm).clamp_max(1.0).view(-1, *([1] * (g.dim() - 1)))
            x.add_(g, alpha=-step_size)
            if noise_std:
                x.add_(noise.normal_(generator=generator), alpha=noise_std)
            if clamp is not None:
                x.clamp_(*clamp)
    x = x.detach()
    if x0.is_contiguous():
        x = x.contiguous()  # hand back the caller's layout (free for one channel: both layouts coincide)
    return (x, energies) if energies is not None else x


class ReplayBuffer:
    """Replay buffer of past Langevin end states (IGEBM, Du & Mordatch 2019, Sec. 3.1; JEM), with each slot's
    chain age: the Langevin steps its chain has run since its last start from noise.

    ``sample(n)`` returns chain starts and the buffer slots they came from. Until the buffer holds
    ``capacity`` samples every start is fresh U[0, 1] noise (and ``idx`` is None); after that each start
    is a uniformly drawn stored sample, replaced by fresh noise with probability ``reinit_prob`` (its slot's
    age goes back to 0).

    ``push(x, idx, steps)`` writes finished chains back into the slots they were drawn from, so each slot is a
    persistent chain (JEM's scheme; reinitialised starts overwrite their slot), and ages them by the ``steps``
    they ran. ``push(x)`` without ``idx`` inserts in ring order, overwriting the oldest entry (IGEBM's FIFO);
    that is how the buffer fills up. Storage lives on ``device``; random draws use ``generator`` (on its own
    device).

    ``draw`` and ``draw_chains`` read the buffer for evaluation: they write nothing and draw from the
    caller's generator, never from ``generator``, so evaluating leaves training's chains and draws alone.
    """

    def __init__(self, capacity: int, reinit_prob: float = DEFAULT_REINIT_PROB,
                 shape: tuple[int, ...] | None = None, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu"):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if not 0.0 <= reinit_prob <= 1.0:
            raise ValueError(f"reinit_prob must be in [0, 1], got {reinit_prob}")
        if shape is None:
            raise ValueError("ReplayBuffer needs the sample shape, e.g. shape=(1, 28, 28)")
        self.capacity = int(capacity)
        self.reinit_prob = float(reinit_prob)
        self.shape = tuple(int(s) for s in shape)
        self.generator = generator
        self.device = torch.device(device)
        self.samples = torch.zeros(self.capacity, *self.shape, device=self.device)  # (K, ...)
        # (K,): Langevin steps since each slot's chain last started from noise
        self.ages = torch.zeros(self.capacity, dtype=torch.long, device=self.device)
        self.size = 0  # slots filled so far
        self.next = 0  # ring position of the next push without idx

    def __len__(self) -> int:
        return self.size

    @property
    def full(self) -> bool:
        return self.size == self.capacity

    def _rand_device(self) -> torch.device:
        return self.generator.device if self.generator is not None else self.device

    def noise(self, n: int) -> Tensor:
        """Fresh chain starts x ~ U[0, 1], shape (n, ...)."""
        x = torch.rand(n, *self.shape, generator=self.generator, device=self._rand_device())
        return x.to(self.device)

    def _slots(self, n: int, generator: torch.Generator | None) -> Tensor:
        """n slots (n,) drawn uniformly: without replacement when n <= capacity, so no two chains write back
        to one slot."""
        dev = generator.device if generator is not None else self.device
        if n <= self.capacity:
            idx = torch.randperm(self.capacity, generator=generator, device=dev)[:n]
        else:
            idx = torch.randint(self.capacity, (n,), generator=generator, device=dev)
        return idx.to(self.device)

    def sample(self, n: int) -> tuple[Tensor, Tensor | None]:
        """Chain starts (n, ...) and their slots (n,) long, or None while the buffer is filling."""
        if not self.full:
            return self.noise(n), None
        idx = self._slots(n, self.generator)
        reinit = torch.rand(n, generator=self.generator, device=self._rand_device()) < self.reinit_prob
        reinit = reinit.to(self.device)  # (n,)
        x0 = self.samples[idx]  # (n, ...) a copy, not a view
        x0[reinit] = self.noise(int(reinit.sum()))
        self.ages[idx] = torch.where(reinit, 0, self.ages[idx])  # a restart is a new chain
        return x0, idx

    @torch.no_grad()
    def push(self, x: Tensor, idx: Tensor | None = None, steps: int = 0) -> None:
        """Store finished chains (n, ...) that ran ``steps`` Langevin steps from their starts: into slots
        ``idx`` if given (their chains grow ``steps`` older), else in ring order (new chains, ``steps``
        old)."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"pushed samples have shape {tuple(x.shape[1:])}, buffer holds {self.shape}")
        x = x.detach().to(self.device, self.samples.dtype)
        if idx is not None:
            idx = idx.to(self.device)
            self.samples[idx] = x
            self.ages[idx] += steps
            return
        x = x[-self.capacity:]  # pushing more than fits keeps only the newest
        slots = (self.next + torch.arange(len(x), device=self.device)) % self.capacity
        self.samples[slots] = x
        self.ages[slots] = steps
        self.next = (self.next + len(x)) % self.capacity
        self.size = min(self.capacity, self.size + len(x))

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """What ``sample(n)`` would start chains from, read-only: states (n, ...) and their ages (n,), 0 for
        fresh noise (every start while the buffer fills, ``reinit_prob`` of them after). The draws come from
        ``generator`` in an order of their own, the one the evaluation's streams were first drawn in: noise
        for all n, then slots, then restarts."""
        dev = generator.device
        noise = torch.rand(n, *self.shape, generator=generator, device=dev).to(self.device)  # (n, ...)
        if not self.full:
            return noise, torch.zeros(n, dtype=torch.long, device=self.device)
        idx = self._slots(n, generator)
        restart = (torch.rand(n, generator=generator, device=dev) < self.reinit_prob).to(self.device)  # (n,)
        x0 = torch.where(restart.view(-1, *[1] * len(self.shape)), noise, self.samples[idx])
        return x0, torch.where(restart, 0, self.ages[idx])

    def old_slots(self, min_age: int) -> Tensor:
        """The filled slots (m,) whose chains have run >= ``min_age`` Langevin steps since their start from
        noise."""
        return (self.ages[: self.size] >= min_age).nonzero().squeeze(1)

    def draw_chains(self, n: int, generator: torch.Generator, min_age: int = 0, top_up: bool = False
                    ) -> tuple[Tensor, Tensor, int]:
        """Distinct stored chains, none restarted, read-only: states (m, ...), their ages (m,), and how many
        come first that have run >= ``min_age`` steps since their start from noise.

        Without ``top_up``: n random chains that old (ValueError when fewer are). With it: m = min(n, len)
        chains, every chain that old first (a random m of them when more are), then random younger ones, whose
        draw from ``generator`` is made even when none is needed (so later draws from it do not depend on
        whether one was).
        """
        old = self.old_slots(min_age)
        if not top_up and len(old) < n:
            raise ValueError(f"{len(old)} of the buffer's {self.size} chains are >= {min_age} steps old, "
                             f"fewer than the {n} asked for")
        m, dev = min(n, self.size), generator.device
        slots = old = old[torch.randperm(len(old), generator=generator, device=dev)[:m].to(self.device)]
        if top_up:
            young = (self.ages[: self.size] < min_age).nonzero().squeeze(1)
            pick = torch.randperm(len(young), generator=generator, device=dev)[:m - len(old)]
            slots = torch.cat([old, young[pick.to(self.device)]])
        return self.samples[slots], self.ages[slots], len(old)  # (m, ...), (m,) copies

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors only, so ``torch.load(..., weights_only=True)`` reads it back.

        The generator's state is not included: the generator is the caller's (often shared with the
        training loop), so the caller checkpoints it; restoring it here would rewind everyone's draws.
        """
        return {"samples": self.samples[: self.size].cpu().clone(),
                "ages": self.ages[: self.size].cpu().clone(), "capacity": torch.tensor(self.capacity),
                "next": torch.tensor(self.next),
                "reinit_prob": torch.tensor(self.reinit_prob, dtype=torch.float64)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        samples = state["samples"]
        if int(state["capacity"]) != self.capacity or tuple(samples.shape[1:]) != self.shape:
            raise ValueError(f"buffer state holds capacity {int(state['capacity'])} of shape "
                             f"{tuple(samples.shape[1:])}; this buffer is {self.capacity} of {self.shape}")
        self.size = len(samples)
        self.samples.zero_()
        self.samples[: self.size] = samples.to(self.device, self.samples.dtype)
        self.ages.zero_()
        self.ages[: self.size] = state["ages"].to(self.device)
        self.next = int(state["next"])
        self.reinit_prob = float(state["reinit_prob"])


def init_chains(init: str, batch: Tensor, buffer: ReplayBuffer | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
    """Chain starts for one training step, shaped like the data ``batch`` (B, ...), and buffer slots.

    ``data``: the batch itself (CD-k, Hinton 2002). ``buffer``: persistent chains from ``buffer``
    (PCD-k, Tieleman 2008), whose ``idx`` goes back to ``buffer.push``. ``noise``: U[0, 1] (short-run
    MCMC, Nijkamp et al. 2019). ``idx`` is None except for ``buffer``.
    """
    if init == "data":
        return batch.detach().clone(), None
    if init == "buffer":
        if buffer is None:
            raise ValueError("init='buffer' needs a ReplayBuffer")
        x0, idx = buffer.sample(len(batch))
        return x0.to(batch.device, batch.dtype), idx
    if init == "noise":
        dev = generator.device if generator is not None else batch.device
        x0 = torch.rand(batch.shape, generator=generator, device=dev, dtype=batch.dtype)
        return x0.to(batch.device), None
    raise ValueError(f"unknown chain init {init!r}; choose one of {', '.join(INITS)}")
