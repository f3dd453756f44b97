import argparse
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from lab.core import (
    ConfigError,
    add_config_arguments,
    config_from_args,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)


class Mode(enum.Enum):
    FAST = "fast"
    EXACT = "exact"


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 10
    name: str = "run"
    use_ema: bool = False
    dropout: float | None = None
    loss: Literal["mean", "sum"] = "mean"
    mode: Mode = Mode.FAST
    sizes: tuple[int, ...] = (64, 64)
    tags: list[str] = field(default_factory=list)
    out: Path = Path("runs")
    optim: Optim = field(default_factory=Optim)

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")


@dataclass(frozen=True)
class Required:
    n: int


def test_roundtrip_json_and_yaml(tmp_path):
    cfg = TrainConfig(
        steps=3,
        dropout=0.1,
        loss="sum",
        mode=Mode.EXACT,
        sizes=(1, 2, 3),
        tags=["a"],
        optim=Optim(lr=0.5),
    )
    for ext in ("json", "yaml", "yml"):
        p = save_config(cfg, tmp_path / f"c.{ext}")
        assert load_config(TrainConfig, p) == cfg
    assert json.loads((tmp_path / "c.json").read_text())["mode"] == "exact"


def test_defaults_and_int_to_float():
    cfg = config_from_dict(TrainConfig, {"optim": {"lr": 1}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg == TrainConfig(optim=Optim(lr=1.0))


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"stepz": 1}, "stepz"),
        ({"optim": {"momentum": 0.9}}, "optim.momentum"),
        ({"steps": "10"}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"use_ema": 1}, "use_ema"),
        ({"loss": "max"}, "loss"),
        ({"mode": "slow"}, "mode"),
        ({"sizes": [1, "x"]}, "sizes[1]"),
        ({"optim": {"betas": [0.9]}}, "optim.betas"),
        ({"name": None}, "name"),
    ],
)
def test_bad_keys_named(data, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict(TrainConfig, data)
    assert repr(key) in str(info.value) or key in str(info.value)


def test_missing_required_key():
    with pytest.raises(ConfigError, match="'n'"):
        config_from_dict(Required, {})


def test_post_init_validation_becomes_config_error():
    with pytest.raises(ConfigError, match="steps must be >= 0"):
        config_from_dict(TrainConfig, {"steps": -1})


def test_config_is_frozen():
    cfg = TrainConfig()
    with pytest.raises(AttributeError):
        cfg.steps = 3  # type: ignore[misc]


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(TrainConfig, tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(TrainConfig, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(TrainConfig, lst)
    unk = tmp_path / "unk.yaml"
    unk.write_text("foo: 1\n")
    with pytest.raises(ConfigError, match="'foo'"):
        load_config(TrainConfig, unk)
    txt = tmp_path / "c.txt"
    txt.write_text("{}")
    with pytest.raises(ConfigError, match="extension"):
        load_config(TrainConfig, txt)


def _parse(argv, cls=TrainConfig):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, cls)
    return config_from_args(cls, parser.parse_args(argv))


def test_cli_defaults_equal_dataclass_defaults():
    assert _parse([]) == TrainConfig()


def test_cli_flags_map_onto_fields():
    cfg = _parse(
        [
            "--steps",
            "7",
            "--use-ema",
            "--dropout",
            "0.25",
            "--loss",
            "sum",
            "--mode",
            "exact",
            "--sizes",
            "8",
            "16",
            "--tags",
            "x",
            "y",
            "--out",
            "o",
            "--optim.lr",
            "0.1",
            "--optim.betas",
            "[0.5, 0.6]",
            "--name",
            "123",
        ]
    )
    assert cfg == TrainConfig(
        steps=7,
        use_ema=True,
        dropout=0.25,
        loss="sum",
        mode=Mode.EXACT,
        sizes=(8, 16),
        tags=["x", "y"],
        out=Path("o"),
        name="123",
        optim=Optim(lr=0.1, betas=(0.5, 0.6)),
    )


def test_cli_none_for_optional():
    assert _parse(["--dropout", "none"]).dropout is None


def test_cli_bad_value_exits_naming_key(capsys):
    with pytest.raises(SystemExit):
        _parse(["--steps", "ten"])
    assert "'steps'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parse(["--loss", "max"])


def test_cli_config_file_then_flags_override(tmp_path):
    p = save_config(TrainConfig(steps=5, name="file", optim=Optim(lr=0.2)), tmp_path / "c.yaml")
    cfg = _parse(["--config", str(p), "--steps", "9"])
    assert cfg.steps == 9 and cfg.name == "file" and cfg.optim.lr == 0.2


def test_cli_config_file_unknown_key(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"bogus": 1}))
    with pytest.raises(ConfigError, match="'bogus'"):
        _parse(["--config", str(p)])


def test_config_to_dict_rejects_non_dataclass():
    with pytest.raises(ConfigError):
        config_to_dict({"a": 1})
    with pytest.raises(ConfigError):
        config_from_dict(dict, {})  # type: ignore[arg-type]


def test_cli_float_literals_without_dot():
    assert _parse(["--optim.lr", "1e-3"]).optim.lr == 1e-3
    assert _parse(["--dropout", "1E-2"]).dropout == 0.01
    assert _parse(["--optim.lr", "3"]).optim.lr == 3.0


@dataclass(frozen=True)
class WithCustomNested:
    # the field's default differs from Optim's class defaults
    optim: Optim = field(default_factory=lambda: Optim(lr=0.5, betas=(0.1, 0.2)))


def test_partial_nested_override_starts_from_the_field_default():
    cfg = config_from_dict(WithCustomNested, {"optim": {"betas": [0.3, 0.4]}})
    assert cfg.optim == Optim(lr=0.5, betas=(0.3, 0.4))
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, WithCustomNested)
    cfg = config_from_args(WithCustomNested, parser.parse_args(["--optim.lr", "0.25"]))
    assert cfg.optim == Optim(lr=0.25, betas=(0.1, 0.2))
    # nothing given: the default factory's instance, unchanged
    assert config_from_args(WithCustomNested, parser.parse_args([])).optim.lr == 0.5


@dataclass(frozen=True)
class OptionalSequences:
    reward_weights: tuple[float, ...] | None = None
    lora_target_modules: tuple[str, ...] | None = ("q_proj",)
    pair: tuple[int, float] | None = None
    paths: list[Path] | None = None


def test_cli_optional_tuples_take_several_words():
    cfg = _parse(
        [
            "--reward-weights",
            "1.0",
            "0.5",
            "2",
            "1e-3",
            "--lora-target-modules",
            "c_attn",
            "c_proj",
            "--pair",
            "3",
            "0.25",
            "--paths",
            "a",
            "b/c",
        ],
        OptionalSequences,
    )
    assert cfg == OptionalSequences(
        reward_weights=(1.0, 0.5, 2.0, 1e-3),
        lora_target_modules=("c_attn", "c_proj"),
        pair=(3, 0.25),
        paths=[Path("a"), Path("b/c")],
    )
    assert all(isinstance(w, float) for w in cfg.reward_weights)
    # one word is a one-item tuple, `none` is None, a YAML list still works, nothing given: default
    assert _parse(["--reward-weights", "1.0"], OptionalSequences).reward_weights == (1.0,)
    assert _parse(["--lora-target-modules", "none"], OptionalSequences).lora_target_modules is None
    assert _parse(["--reward-weights", "[0.5, 1]"], OptionalSequences).reward_weights == (0.5, 1.0)
    assert _parse(["--reward-weights", "[]"], OptionalSequences).reward_weights == ()
    assert _parse([], OptionalSequences) == OptionalSequences()


def test_cli_sequence_words_are_validated_naming_the_item():
    with pytest.raises(ConfigError, match=r"reward_weights\[1\]"):
        _parse(["--reward-weights", "1.0", "heavy"], OptionalSequences)
    with pytest.raises(ConfigError, match="expected 2 values, got 3"):
        _parse(["--pair", "1", "2", "3"], OptionalSequences)
    with pytest.raises(ConfigError, match=r"sizes\[0\]"):
        _parse(["--sizes", "1.5"])
