import glob
import os

import pytest

from ebm.config import ConfigError, RBMConfig, field_docs, flatten, load_config, to_dict, unflatten

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
    assert (cfg.model.n_visible, cfg.model.n_hidden, cfg.sampler.init, cfg.sampler.k) == (784, 500, "persistent", 5)


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

    for cls in [RBMConfig] + [t for t in typing.get_type_hints(RBMConfig).values() if dataclasses.is_dataclass(t)]:
        walk(cls)
