"""The Tune search algorithm behind listed cells and sequential seeds (:mod:`sweeps.sequential`): one Tuner,
one experiment folder, every configuration (grid point or listed cell) on the first seeds, and the held-back
seeds only where a contrast is unsettled."""

from __future__ import annotations

import math
import pickle

from ray.tune.search import Searcher

from analysis import stats
from sweeps.sequential import Point, unsettled


class SeedSearcher(Searcher):
    """Tune search algorithm: the grid on the first seeds, then held-back seeds for unsettled contrasts only.

    ``suggest`` hands out (configuration, seed) pairs; while a look's trials are still running it waits
    (None); when they have all ended it looks (:func:`unsettled`) and queues the next round, or ends the
    sweep.
    """

    def __init__(self, keys: list[str], points: list[Point], seeds: list[int], rounds: list[list[int]],
                 rank_metric: str, mode: str, resolve: float):
        super().__init__()
        self.keys, self.points = list(keys), [tuple(p) for p in points]
        self.rounds = [list(r) for r in rounds]
        self.rank_metric, self.rank_mode, self.resolve = rank_metric, mode, resolve
        self.at = stats.split_level(1 + len(self.rounds))
        # configuration by configuration, in the file's order: a sweep that lists its slowest cell first
        # starts its long trials first, and the short ones fill in beside them
        self.queue = [(p, s) for p in self.points for s in seeds]
        self.running: dict[str, tuple[Point, int]] = {}
        self.values: dict[tuple[Point, int], float] = {}
        self.spent = 0  # rounds of held-back seeds queued so far
        self.history: list[dict] = []  # per look: seeds added and the configurations that got them

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        # the space and the rank metric came with the constructor; Tune's metric steers nothing here
        return True

    def suggest(self, trial_id: str):
        if not self.queue:
            if self.running:
                return None
            self.queue = self._next_round()
            if not self.queue:
                return self.FINISHED
        point, seed = self.queue.pop(0)
        self.running[trial_id] = (point, seed)
        return {**dict(zip(self.keys, point, strict=True)), "seed": seed}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        point, seed = self.running.pop(trial_id)
        value = (result or {}).get(self.rank_metric, math.nan) if not error else math.nan
        self.values[(point, seed)] = float(value) if stats.finite(value) else math.nan

    def _next_round(self) -> list[tuple[Point, int]]:
        if self.spent >= len(self.rounds):
            return []
        todo = unsettled(self.values, len(self.keys), self.rank_mode, self.resolve, self.at)
        seeds = self.rounds[self.spent]
        self.spent += 1
        self.history.append({"seeds": seeds, "configurations": sorted(todo, key=repr)})
        print(f"sequential seeds, look {self.spent}: " + (
            f"{len(todo)} of {len(self.points)} configurations in unsettled contrasts run seeds {seeds}"
            if todo else "every contrast settled; held-back seeds not spent"), flush=True)
        return [(p, s) for s in seeds for p in self.points if p in todo]

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
