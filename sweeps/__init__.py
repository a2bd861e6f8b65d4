"""Named Ray Tune sweeps: ``configs/sweeps/NAME.yaml`` -> validated spec -> Tuner (built only here).

``sweeps.spec`` reads and checks sweep files without importing Ray (so ``--list``, ``--dry-run`` and every
typo fail fast), into a typed ``sweeps.sweep.Sweep`` whose space ``sweeps.space`` builds; ``sweeps.tuner``
turns a Sweep into a Tuner; ``sweeps.run`` is the command line, with ``sweeps.dry_run`` (what a sweep will
do) and ``sweeps.records`` (where results go and what is recorded beside them); ``sweeps.literature`` reads
and checks a sweep file's ``literature:`` claims, which the report judges.
"""
