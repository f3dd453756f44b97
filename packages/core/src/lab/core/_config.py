"""Frozen-dataclass configuration: load/save JSON or YAML, strict validation, CLI mapping.

Every labworks component has one frozen dataclass config. This module is the single place
that turns mappings (from JSON/YAML files) and command-line flags into those dataclasses.
An unknown key, a missing required key, or a value of the wrong type raises
:class:`~lab.core.ConfigError` naming the key (dotted for nested configs).

Supported field types: ``bool``, ``int``, ``float`` (ints accepted), ``str``, ``pathlib.Path``,
``Enum`` subclasses (by value or name), ``Literal[...]``, ``Optional[T]`` / ``T | None``,
``tuple[T, ...]``, ``tuple[A, B]``, ``list[T]``, ``dict[str, T]`` and nested dataclasses.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import yaml

from ._errors import ConfigError

__all__ = [
    "add_config_arguments",
    "config_from_args",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "save_config",
]

C = TypeVar("C")
_MISSING = dataclasses.MISSING


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _check_config_class(cls: Any) -> None:
    if not _is_dataclass_type(cls):
        raise ConfigError(f"{cls!r} is not a dataclass type")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Validate/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``key``."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(
                f"config key {key!r}: None is not allowed (expected {_type_name(tp)})"
            )
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key {key!r}: value {value!r} does not match {_type_name(tp)}")
    if origin is typing.Literal:
        choices = get_args(tp)
        if value in choices and not (
            isinstance(value, bool) and not any(isinstance(c, bool) for c in choices)
        ):
            return value
        raise ConfigError(f"config key {key!r}: value {value!r} is not one of {list(choices)}")
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ConfigError(f"config key {key!r}: expected a sequence, got {value!r}")
        args = get_args(tp)
        if origin is list:
            item = args[0] if args else Any
            return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(
                f"config key {key!r}: expected {len(args)} items, got {len(value)} ({value!r})"
            )
        return tuple(
            _convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=False))
        )
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        kt, vt = ((*get_args(tp), Any, Any))[:2]
        return {
            _convert(k, kt, f"{key}.<key>"): _convert(v, vt, f"{key}.{k}") for k, v in value.items()
        }
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"config key {key!r}: expected a mapping for {tp.__name__}, got {value!r}"
            )
        return _from_mapping(tp, value, prefix=f"{key}.")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        for member in tp:
            if value == member.value or value == member.name:
                return member
        raise ConfigError(
            f"config key {key!r}: value {value!r} is not one of {[m.value for m in tp]}"
        )
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected a bool, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r}: expected an int, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config key {key!r}: expected a float, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key {key!r}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"config key {key!r}: expected a path, got {value!r}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"config key {key!r}: expected {tp.__name__}, got {value!r}")
    return value


def _fields(cls: Any) -> tuple[list[dataclasses.Field[Any]], dict[str, Any]]:
    hints = get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if f.init], hints


def _from_mapping(cls: type[C], data: Mapping[str, Any], prefix: str = "") -> C:
    fields, hints = _fields(cls)
    names = {f.name for f in fields}
    for k in data:
        if k not in names:
            raise ConfigError(
                f"unknown config key {prefix + str(k)!r} for {cls.__name__} (known: {sorted(names)})"
            )
    kwargs: dict[str, Any] = {}
    for f in fields:
        key = prefix + f.name
        if f.name in data:
            value = data[f.name]
            if _is_dataclass_type(hints[f.name]) and isinstance(value, Mapping):
                # a partial nested mapping overrides the field's own default (its default or
                # default_factory instance), not the nested class's defaults
                base = _field_default(f)
                if dataclasses.is_dataclass(base) and not isinstance(base, type):
                    value = _merge(_to_plain(base), value)
            kwargs[f.name] = _convert(value, hints[f.name], key)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"missing required config key {key!r} for {cls.__name__}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"invalid {cls.__name__} config{' at ' + prefix[:-1] if prefix else ''}: {exc}"
        ) from exc


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return None


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build ``cls`` from a mapping, validating every key and type.

    A nested config given as a partial mapping starts from the field's own default (its
    ``default`` or ``default_factory`` value), so ``{"inner": {"lr": 0.1}}`` changes only ``lr``.
    """
    _check_config_class(cls)
    if not isinstance(data, Mapping):
        raise ConfigError(f"a {cls.__name__} config must be a mapping, got {type(data).__name__}")
    return _from_mapping(cls, data)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON/YAML-serialisable dict of a config dataclass (round-trips through config_from_dict)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(f"{config!r} is not a dataclass instance")
    out = _to_plain(config)
    assert isinstance(out, dict)
    return out


def _read_mapping(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise ConfigError(
                f"config file {str(path)!r}: unsupported extension {suffix!r} (use .json, .yaml or .yml)"
            )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"config file {str(path)!r} is not valid {suffix[1:].upper()}: {exc}"
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}"
        )
    return data


def load_config(cls: type[C], path: str | Path) -> C:
    """Load ``cls`` from a ``.json``, ``.yaml`` or ``.yml`` file."""
    _check_config_class(cls)
    path = Path(path)
    try:
        return _from_mapping(cls, _read_mapping(path))
    except ConfigError as exc:
        if str(path) in str(exc):
            raise
        raise ConfigError(f"{path}: {exc}") from None


def save_config(config: Any, path: str | Path) -> Path:
    """Write a config to ``.json`` (default) or ``.yaml``/``.yml`` by the file extension."""
    path = Path(path)
    data = config_to_dict(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- CLI mapping


def _flag(prefix: str, name: str) -> str:
    return "--" + (prefix + name).replace("_", "-")


def _dest(prefix: str, name: str) -> str:
    return "cfg__" + (prefix + name).replace(".", "__")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, getattr(types, "UnionType", None))


def _parse_text(text: str, tp: Any, key: str) -> Any:
    """Parse one command-line word and validate it like a file value (ConfigError naming key)."""
    if text.lower() in ("none", "null") and type(None) in get_args(tp):
        return None
    try:
        value: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    inner = [a for a in get_args(tp) if a is not type(None)] if _is_union(tp) else [tp]
    if any(a in (str, Path) for a in inner) and not isinstance(value, (list, dict)):
        value = text
    if isinstance(value, int) and not isinstance(value, bool) and float in inner:
        value = float(value)
    if isinstance(value, str) and float in inner:
        # YAML 1.1 reads "1e-3" (no dot) as a string; accept any Python float literal
        with contextlib.suppress(ValueError):
            value = float(text)
    return _convert(value, tp, key)


def _parse_scalar(tp: Any, key: str) -> Callable[[str], Any]:
    """An argparse ``type=`` callable that parses text and validates it like a file value."""

    def parse(text: str) -> Any:
        try:
            return _parse_text(text, tp, key)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = _type_name(tp)
    return parse


def _sequence_type(tp: Any) -> Any:
    """The ``list[...]``/``tuple[...]`` type of a field typed so or ``... | None``; else None."""
    if get_origin(tp) in (list, tuple):
        return tp
    if _is_union(tp):
        inner = [a for a in get_args(tp) if a is not type(None)]
        if len(inner) == 1 and get_origin(inner[0]) in (list, tuple):
            return inner[0]
    return None


def _parse_words(words: list[str], tp: Any, key: str) -> Any:
    """Several command-line words for a sequence field (``tp`` may be ``... | None``).

    ``--x 1 2 3`` gives three items, each parsed as the item type; one word that starts with
    ``[`` is a YAML list (``--x '[1, 2]'``, ``--x '[]'`` for an empty one); ``--x none`` is None
    for an optional field.
    """
    seq = _sequence_type(tp)
    optional = type(None) in get_args(tp)
    if len(words) == 1 and optional and words[0].lower() in ("none", "null"):
        return None
    if len(words) == 1 and words[0].lstrip().startswith("["):
        try:
            return yaml.safe_load(words[0])
        except yaml.YAMLError as exc:
            raise ConfigError(f"config key {key!r}: cannot parse {words[0]!r}: {exc}") from None
    args = get_args(seq)
    if get_origin(seq) is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(words) != len(args):
            raise ConfigError(
                f"config key {key!r}: expected {len(args)} values, got {len(words)} ({words!r})"
            )
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(words)
    return [
        w if it is Any else _parse_text(w, it, f"{key}[{i}]")
        for i, (w, it) in enumerate(zip(words, item_types, strict=True))
    ]


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type[Any], *, prefix: str = ""
) -> None:
    """Add one ``--flag`` per field of ``cls`` (nested dataclasses as ``--outer.inner``).

    Also adds ``--config FILE`` (JSON/YAML) once at the top level; flags given on the command
    line override values from the file, which override the dataclass defaults. Booleans take
    ``--flag/--no-flag``; sequences (also optional ones, ``tuple[float, ...] | None``) take
    several words (``--sizes 64 64``) or one YAML list (``--sizes '[64, 64]'``, ``'[]'`` for an
    empty one), and ``none`` for an optional one.
    """
    _check_config_class(cls)
    if not prefix and not any(a.dest == "config_file" for a in parser._actions):
        parser.add_argument(
            "--config",
            dest="config_file",
            metavar="FILE",
            default=None,
            help="JSON or YAML file with config values (flags override it)",
        )
    fields, hints = _fields(cls)
    for f in fields:
        tp = hints[f.name]
        doc = f.metadata.get("help", "") if f.metadata else ""
        default = (
            f.default
            if f.default is not _MISSING
            else (f.default_factory() if f.default_factory is not _MISSING else None)
        )
        if _is_dataclass_type(tp):
            add_config_arguments(parser, tp, prefix=f"{prefix}{f.name}.")
            continue
        help_text = f"{doc} (default: {_to_plain(default)!r})".strip()
        flag = _flag(prefix, f.name)
        dest = _dest(prefix, f.name)
        if tp is bool:
            parser.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        origin = get_origin(tp)
        choices = None
        if origin is typing.Literal:
            choices = list(get_args(tp))
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            choices = [m.value for m in tp]
        kwargs: dict[str, Any] = {
            "dest": dest,
            "default": argparse.SUPPRESS,
            "help": help_text,
            "type": _parse_scalar(tp, prefix + f.name),
        }
        if choices is not None:
            kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
        if _sequence_type(tp) is not None:
            kwargs["nargs"] = "+"
            kwargs["type"] = str
        kwargs.setdefault("metavar", f.name.upper())
        parser.add_argument(flag, **kwargs)


def _collect(ns: argparse.Namespace, cls: type[Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields, hints = _fields(cls)
    for f in fields:
        tp = hints[f.name]
        if _is_dataclass_type(tp):
            nested = _collect(ns, tp, f"{prefix}{f.name}.")
            if nested:
                out[f.name] = nested
            continue
        dest = _dest(prefix, f.name)
        if hasattr(ns, dest):
            value = getattr(ns, dest)
            if _sequence_type(tp) is not None and isinstance(value, list):
                value = _parse_words(value, tp, prefix + f.name)
            out[f.name] = value
    return out


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in override.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping):
            merged[k] = _merge(dict(merged[k]), v)
        else:
            merged[k] = v
    return merged


def config_from_args(cls: type[C], args: argparse.Namespace, *, prefix: str = "") -> C:
    """Build ``cls`` from parsed flags (see :func:`add_config_arguments`), honouring ``--config``."""
    _check_config_class(cls)
    data: dict[str, Any] = {}
    config_file = getattr(args, "config_file", None)
    if config_file and not prefix:
        data = dict(_read_mapping(Path(config_file)))
    data = _merge(data, _collect(args, cls, prefix))
    return _from_mapping(cls, data)
