"""The named sweeps (YAML): ``python sweeps/run.py NAME``."""
