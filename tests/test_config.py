import glob
import os

import pytest

from ebm.config import ConfigError, RBMConfig, load_config, to_dict
from ebm.strict import field_docs, flatten, unflatten

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))),
                         ids=os.path.basename)
def test_every_shipped_config_loads_and_validates(path):
    cfg = load_config(path)
    assert cfg.kind in ("rbm", "conv_ebm")
    # the resolved config round-trips through its flattened (sweep) form
    assert load_config(None, base=unflatten(flatten(to_dict(cfg)))) == cfg


def test_seed_configs_keep_the_names_sweeps_rely_on():
    cfg = load_config(os.path.join(ROOT, "configs", "rbm_mnist_pcd5.yaml"))
    flat = flatten(to_dict(cfg))
    for key in ("seed", "data.name", "data.root", "data.binarize", "model.n_visible", "model.n_hidden",
                "sampler.init", "sampler.k", "train.epochs", "train.batch_size", "train.lr"):
        assert key in flat
    m, s = cfg.model, cfg.sampler
    assert (m.n_visible, m.n_hidden, s.init, s.k) == (784, 500, "persistent", 5)


def test_overrides_apply_last_with_yaml_typed_values():
    cfg = load_config(os.path.join(ROOT, "configs", "rbm_mnist_cd1.yaml"),
                      ["sampler.k=20", "train.lr=1e-3", "data.name=digits", "model.centering=true"])
    assert cfg.sampler.k == 20 and cfg.train.lr == pytest.approx(1e-3)
    assert cfg.data.name == "digits" and cfg.model.centering is True


@pytest.mark.parametrize("override, message", [
    (["sampler.kk=3"], "did you mean sampler.k"),
    (["trian.lr=0.1"], "did you mean train"),
    (["sampler.k=0"], "sampler.k=0 must be >= 1"),
    (["train.lr=-1"], "train.lr=-1"),
    (["train.lr=abc"], "must be of type float"),
    (["sampler.k=2.5"], "must be of type int"),
    (["sampler.init=persistant"], "did you mean 'persistent'"),
    (["model.centering=3"], "must be of type bool"),
    (["train.lr"], "key=value"),
    (["kind=gan"], "unknown kind"),
    (["eval.final_ais_rounds=0"], "eval.final_ais_rounds=0 must be >= 1"),
    (["eval.final_raise_images=1"], "eval.final_raise_images=1 must be 0 (off) or >= 2"),
    (["eval.final_raise_chains=0"], "eval.final_raise_chains=0 must be >= 1"),
    (["eval.final_raise_betas=8"], "eval.final_raise_betas=8 must be >= 16"),
])
def test_bad_values_name_the_key_and_the_fix(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(None, override)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_malformed_and_missing_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(listy))


def test_every_field_has_a_docstring():
    import dataclasses

    def walk(cls):
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type) or (isinstance(f.type, str) and f.type.endswith("Config")):
                continue
            assert f.name in docs, f"{cls.__name__}.{f.name} has no docstring"

    import typing

    for cls in [RBMConfig] + [t for t in typing.get_type_hints(RBMConfig).values()
                              if dataclasses.is_dataclass(t)]:
        walk(cls)


# --------------------------------------------------------------------------------------------------
# Shipped YAML holds only what differs (STYLE.md): a key that restates its default hides the default.


def _restated(default, base, values: dict, where: str) -> list[str]:
    """Dotted keys of ``values`` equal to the dataclass default that ``base`` already has (``kind`` names the
    class, so it may always be stated)."""
    from ebm.strict import get, replace

    return [key for key, value in values.items() if key != "kind"
            and get(replace(base, key, value, where), key) == get(default, key) == get(base, key)]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))),
                         ids=os.path.basename)
def test_shipped_configs_restate_no_default(path):
    from ebm.config import KINDS, from_dict
    from ebm.strict import read_yaml

    raw = read_yaml(path)
    default = KINDS[from_dict(raw, path).kind]()
    where = os.path.relpath(path, ROOT)
    restated = _restated(default, default, flatten(raw), where)
    assert not restated, f"{where}: {', '.join(restated)} restate(s) the default; drop them from the file"


def _sweep_names():
    from sweeps.spec import available

    return available()


@pytest.mark.parametrize("name", _sweep_names())
def test_sweep_sets_restate_no_default(name):
    """A sweep's ``set`` (and each preset's) may pin a value its base config changed, not restate a
    default."""
    from ebm.config import KINDS, from_dict
    from ebm.strict import read_yaml, replace
    from sweeps.spec import SWEEPS_DIR, load_sweep

    path = os.path.join(SWEEPS_DIR, f"{name}.yaml")
    where = os.path.relpath(path, ROOT)
    raw = read_yaml(path)
    base = from_dict(read_yaml(load_sweep(name, "smoke").base))
    default = KINDS[base.kind]()
    sets = flatten(raw.get("set") or {})
    restated = [f"set.{k}" for k in _restated(default, base, sets, where)]
    for key, value in sets.items():
        base = replace(base, key, value, where)
    for preset, body in (raw.get("presets") or {}).items():
        restated += [f"presets.{preset}.set.{k}"
                     for k in _restated(default, base, flatten((body or {}).get("set")
                                                                                          or {}), where)]
    assert not restated, f"{where}: {', '.join(restated)} restate(s) the default; drop them from the file"
