"""How a conv-EBM run's samples are drawn for evaluation; :mod:`ebm.conv_eval` scores them. Changing the
evaluation protocol means editing this module.

- ``protocol_samples``: the common evaluation sampler ``eval.protocol``
  (:class:`ebm.config.EvalProtocolConfig`), the same for every arm of a sweep, so CD-k, PCD-k and short-run
  arms are ranked on one procedure;
- ``as_trained_samples``: what the arm's own training sampler hands the loss, reported beside them;
- ``final_samples``: the final evaluation's draw, the protocol with a buffer start that takes every chain it
  needs;
- ``grid_samples`` and ``checkpoint_samples``: the sample grids of a run and of a checkpoint.

Chain starts (``chain_starts``): ``noise`` is U[0, 1], ``data`` training images, ``buffer`` replay-buffer
chains that have run >= ``eval.protocol.min_chain_steps`` Langevin steps since their last start from noise,
with no restarts (``ReplayBuffer.draw_chains``); the arm's own PCD starts restart ``reinit_prob`` of them
(``ReplayBuffer.draw``). The buffer is read, never written.

Each evaluation draws from a random stream of its own (``eval_generator``, ``final_generator``), never from
the training run's. A run here is a :class:`ebm.conv_train.ConvEBMRun`, read through ``cfg``, ``device``,
``train_x``, ``image_shape``, ``buffer``, ``energy_net``, ``epoch`` and ``final_images``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm.conv_ebm import build_energy_net
from ebm.data import image_shape
from ebm.langevin import ReplayBuffer, langevin
from ebm.metrics.result import MetricUnavailable
from ebm.rng import seed_for

EVAL_SEED = 104729  # evaluation chains' generator: seed and epoch are added to it
# the purpose the final evaluation's stream is seeded by (ebm.rng.seed_for)
FINAL_STREAM = "conv final evaluation"


def eval_generator(run) -> torch.Generator:
    """Evaluation's own random stream, seeded by (seed, epoch). Evaluating never moves the training run's
    draws, and at one seed and epoch every arm of a sweep starts its protocol chains from the same noise with
    the same Langevin noise (common random numbers: arms differ by their networks, not their luck)."""
    return torch.Generator(device=run.device).manual_seed(EVAL_SEED + 1_000_003 * run.cfg.seed + run.epoch)


def final_generator(run) -> torch.Generator:
    """The final evaluation's own random stream, seeded by (seed, purpose): it never coincides with a
    per-epoch stream (``eval_generator``) and, like them, is shared by every arm of a sweep at one seed."""
    return torch.Generator(device=run.device).manual_seed(seed_for(run.cfg.seed, FINAL_STREAM))


# --- the samplers ------------------------------------------------------------------------------------------
def protocol_samples(run, n: int, generator: torch.Generator, record_energy: bool = False
                     ) -> tuple[Tensor, Tensor | None]:
    """``n`` samples (n, C, H, W) of the common evaluation sampler ``eval.protocol``, and with
    ``record_energy`` their energy trace (steps, n), else None. Raises MetricUnavailable when the protocol
    does not apply to this arm (a buffer start without a filled replay buffer)."""
    p, s = run.cfg.eval.protocol, run.cfg.sampler
    if p.init == "as_trained":
        return as_trained_samples(run, n, generator, record_energy)
    x0 = chain_starts(run, p.init, n, generator)
    return _chains(run, x0, p.steps or s.k, _protocol_settings(run.cfg), record_energy, generator)


def as_trained_samples(run, n: int, generator: torch.Generator, record_energy: bool = False
                       ) -> tuple[Tensor, Tensor | None]:
    """What the arm's training sampler hands the loss now: CD-k from training images, PCD-k from
    replay-buffer states with ``reinit_prob`` of them restarted from noise (all noise while the buffer
    fills), short-run from noise; ``sampler.k`` steps with the training settings. Nothing is written back to
    the buffer."""
    s = run.cfg.sampler
    x0 = chain_starts(run, s.init, n, generator, as_trained=True)
    return _chains(run, x0, s.k, (s.step_size, s.noise_std, s.grad_clip), record_energy, generator)


def final_samples(run, n: int, generator: torch.Generator, record_energy: bool = False
                  ) -> tuple[Tensor, Tensor | None, str]:
    """The final evaluation's samples (n', C, H, W), their energy trace (steps, n') when ``record_energy``,
    and how they were drawn: the protocol, except that a buffer start takes every chain it needs
    (``final_starts``) where the per-epoch protocol would refuse; n' = n but for a buffer holding fewer chains
    than n."""
    p = run.cfg.eval.protocol
    if p.init != "buffer":
        return *protocol_samples(run, n, generator, record_energy), protocol_description(run.cfg)
    x0, _, start = final_starts(run, n, generator)
    drawn = _chains(run, x0, p.steps or run.cfg.sampler.k, _protocol_settings(run.cfg), record_energy,
                    generator)
    return *drawn, f"{start}, {_protocol_steps(run.cfg)}"


def grid_samples(run, n: int) -> Tensor:
    """The samples the run is ranked on, for sample grids (n, C, H, W) on the CPU: after the final
    evaluation, the first n it scored; else the protocol's, or the arm's own when the protocol does not apply
    to it."""
    if run.final_images is not None and n <= len(run.final_images):
        return run.final_images[:n]
    gen = eval_generator(run)
    try:
        return protocol_samples(run, n, gen)[0].cpu()
    except MetricUnavailable:
        return as_trained_samples(run, n, gen)[0].cpu()


def checkpoint_samples(cfg, weights: dict, buffer: dict | None, n: int, steps: int, seed: int = 0) -> Tensor:
    """``steps`` Langevin steps with the sampler's settings from a checkpoint's network (``weights``) and its
    replay buffer's state (``python -m ebm sample``): from stored chains when it holds any, drawn with
    replacement from those at least ``eval.protocol.min_chain_steps`` old (all of them when none is), else
    from noise."""
    m, s = cfg.model, cfg.sampler
    stored = buffer is not None and len(buffer["samples"]) > 0
    shape = tuple(buffer["samples"].shape[1:]) if stored else image_shape(cfg.data.name)
    net = build_energy_net(m.net, shape, m.width or None, m.activation, m.spectral_norm)
    net.load_state_dict(weights)
    gen = torch.Generator().manual_seed(seed)
    if stored:
        b = ReplayBuffer(int(buffer["capacity"]), float(buffer["reinit_prob"]), shape)
        b.load_state_dict(buffer)
        # as the protocol: not chains restarted from noise a few steps ago
        slots = b.old_slots(cfg.eval.protocol.min_chain_steps)
        slots = slots if len(slots) else torch.arange(len(b))
        x0 = b.samples[slots[torch.randint(len(slots), (n,), generator=gen)]]  # (n, C, H, W)
    else:
        x0 = torch.rand(n, *shape, generator=gen)
    return langevin(net, x0, steps, s.step_size, s.noise_std, grad_clip=s.grad_clip or None, clamp=(0.0, 1.0),
                    generator=gen)


# --- chain starts ------------------------------------------------------------------------------------------
def chain_starts(run, init: str, n: int, generator: torch.Generator, as_trained: bool = False) -> Tensor:
    """Chain starts (n, C, H, W) drawn with ``generator``. A buffer start ``as_trained`` draws as training
    does (``ReplayBuffer.draw``: noise while the buffer fills, then stored states with ``reinit_prob`` of
    them restarted); the protocol's takes chains old enough, with no restarts (``_old_chains``)."""
    if init == "data":
        return run.train_x[torch.randint(len(run.train_x), (n,), generator=generator, device=run.device)]
    if init == "buffer" and as_trained:
        return run.buffer.draw(n, generator)[0]
    # (n, C, H, W) ~ U[0, 1]; the protocol's buffer start draws it too, unused, so that every draw after it
    # in a seed's evaluation stream stays where it has always been
    noise = torch.rand(n, *run.image_shape, generator=generator, device=run.device)
    if init == "noise":
        return noise
    return _old_chains(run, n, generator)


def _old_chains(run, n: int, generator: torch.Generator) -> Tensor:
    """n distinct buffer states whose chains have run >= eval.protocol.min_chain_steps Langevin steps since
    their last start from noise; MetricUnavailable when fewer than n have (never duplicates: a repeated image
    would make KID's within-set term, and so the score, look worse than the chains are)."""
    b, need = _filled_buffer(run), run.cfg.eval.protocol.min_chain_steps
    old = len(b.old_slots(need))
    if old < n:
        raise MetricUnavailable(f"{old} of the buffer's {len(b)} chains have run >= {need} Langevin steps "
                                "since their start from noise (eval.protocol.min_chain_steps), fewer than "
                                f"eval.n_samples={n}; train longer or lower either")
    return b.draw_chains(n, generator, min_age=need)[0]  # (n, C, H, W), a copy


def final_starts(run, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, str]:
    """min(n, buffer size) distinct buffer chains (n', C, H, W), each run >= eval.protocol.min_chain_steps
    Langevin steps since its last start from noise, their ages in steps (n',), and a description.

    Every chain that old is used first (a random n' of them when there are more); when too few are, the rest
    are random younger chains, each first run min_chain_steps more steps with the protocol's step size, noise
    and clip, so that none is scored as noise. The buffer and its chain ages are read, never written.
    """
    b, need = _filled_buffer(run), run.cfg.eval.protocol.min_chain_steps
    x0, age, old = b.draw_chains(n, generator, min_age=need, top_up=True)  # the old chains first
    young = len(x0) - old
    if young:
        x0[old:] = _chains(run, x0[old:], need, _protocol_settings(run.cfg), False, generator)[0]
        age[old:] += need
        # a grid's first n show both kinds
        mixed = torch.randperm(len(x0), generator=generator, device=run.device)
        x0, age = x0[mixed], age[mixed]
    size = len(b)
    what = (f"all {size} chains of the buffer (fewer than the {n} asked for)" if n > size else
            f"{len(x0)} distinct chains of the buffer's {size}")
    topped = (f": {old} had run >= {need} steps since their start from noise, {young} younger ones first ran "
              f"{need} more at the protocol's settings" if young else
              f", each run >= {need} steps since its start from noise")
    return x0, age, f"buffer start ({what}{topped}; no restarts)"


def _filled_buffer(run) -> ReplayBuffer:
    if run.buffer is None or len(run.buffer) == 0:
        raise MetricUnavailable("eval.protocol.init=buffer needs a replay buffer with states; this arm "
                                f"trains with sampler.init={run.cfg.sampler.init} (use protocol init noise)")
    return run.buffer


# --- the Langevin chains and their settings ----------------------------------------------------------------
def _chains(run, x0: Tensor, steps: int, settings: tuple[float, float, float], record_energy: bool,
            generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """``steps`` Langevin steps of the run's energy (its EMA network when it keeps one) from ``x0`` with
    (step size, noise std, grad clip) ``settings``: the end states, and the energy trace or None."""
    step_size, noise_std, grad_clip = settings
    drawn = langevin(run.energy_net, x0, steps, step_size, noise_std, grad_clip=grad_clip or None,
                     clamp=(0.0, 1.0), record_energy=record_energy, generator=generator)
    return drawn if record_energy else (drawn, None)


def _protocol_settings(cfg) -> tuple[float, float, float]:
    """The common sampler's (step size, noise std, grad clip): the protocol's, or the arm's own where it is
    null."""
    p, s = cfg.eval.protocol, cfg.sampler
    return _own(p.step_size, s.step_size), _own(p.noise_std, s.noise_std), _own(p.grad_clip, s.grad_clip)


def _own(value: float | None, own: float) -> float:
    """A protocol setting, or the arm's own where the protocol leaves it null."""
    return own if value is None else value


# --- descriptions ------------------------------------------------------------------------------------------
def protocol_description(cfg) -> str:
    p = cfg.eval.protocol
    if p.init == "as_trained":
        return f"as trained ({as_trained_description(cfg)})"
    start = (f"buffer start (chains >= {p.min_chain_steps} steps old, no restarts)" if p.init == "buffer"
             else f"{p.init} start")
    return f"{start}, {_protocol_steps(cfg)}"


def as_trained_description(cfg) -> str:
    s = cfg.sampler
    start = f"buffer start (reinit {s.reinit_prob:g})" if s.init == "buffer" else f"{s.init} start"
    return (f"{start}, {s.k} steps, step size {s.step_size:g}, noise {s.noise_std:g}, grad clip "
            f"{s.grad_clip:g}")


def _protocol_steps(cfg) -> str:
    step_size, noise_std, grad_clip = _protocol_settings(cfg)
    return (f"{cfg.eval.protocol.steps or cfg.sampler.k} steps, step size {step_size:g}, "
            f"noise {noise_std:g}, grad clip {grad_clip:g}")
