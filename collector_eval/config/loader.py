"""YAML onto typed options, key by key.

Each stage declares its options as dataclasses with documented defaults and a `validate(path)`; this
module maps a YAML document onto them. Unknown keys and values of the wrong type are refused with an
error naming the full dotted key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from collector_eval.config.checks import ConfigError

T = TypeVar("T")


def read_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return data if data is not None else {}


def build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(f"{key_path}: unknown key; known keys here: {', '.join(sorted(fields))}")
        kwargs[key] = coerce(hints[key], value, key_path)
    return cls(**kwargs)


def coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a hint: a class, never an instance
        shorthand = getattr(tp, "shorthand", None)
        if shorthand is not None and not isinstance(value, (dict, type(None))):
            if not isinstance(value, str):
                raise ConfigError(f"{path}: expected a {shorthand} or a mapping, got {value!r}")
            value = {shorthand: value}
        return build(tp, value if value is not None else {}, path)
    if tp is Any:  # a verbatim structure, e.g. a JSON schema; its user validates it
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        return [coerce(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return {str(k): coerce(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        # Only "X | None": an option that may be left unset (a condition that is not asked).
        (inner,) = (t for t in typing.get_args(tp) if t is not type(None))
        return None if value is None else coerce(inner, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return str(value)
    raise AssertionError(f"unsupported config type {tp}")
