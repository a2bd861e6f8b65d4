"""Named Ray Tune sweeps: ``configs/sweeps/NAME.yaml`` -> validated spec -> Tuner (built only here).

``sweeps.spec`` reads and checks sweep files without importing Ray (so ``--list``, ``--dry-run`` and every
typo fail fast); ``sweeps.tuner`` turns a spec into a Tuner; ``sweeps.run`` is the command line.
"""
