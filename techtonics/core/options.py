"""Options declared once: a config field's default, help, choices and bound give its flag and its check.

    @dataclasses.dataclass(frozen=True)
    class InputConfig:
        batch_size: int = option(64, "Global batch size, split over all replicas.", minimum=1)

        def __post_init__(self):
            options.check(self)

    options.define_flags(trainer.TrainConfig)        # in an entry point, nowhere else
    config = options.from_flags(trainer.TrainConfig, records=FLAGS.records)
    config = options.build(trainer.TrainConfig, {"batch_size": 8}, records=path)   # tests, benchmarks

Nested configs (a field whose type is a dataclass) are walked, and their
options become flags of one flat namespace, so flagfiles stay flat and flag
names are unique across a command. A field declared without `option` (the
records path, the STEAD pairs) is no flag: the entry point gives its value.
A field typed `tuple[str, ...]` is a comma-separated list flag (`--csv=a.csv,b.csv`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator
from typing import Any

from absl import flags

from techtonics.core.errors import UserError

# Flags that define_flags defines belong to the command that calls it, so a command's --help lists them
# (absl's --help shows only the main module's key flags).
flags.disclaim_key_flags()


def option(
    default: Any,
    help: str,
    *,
    choices: tuple = (),
    minimum: float | None = None,
    maximum: float | None = None,
    flag: str = "",
) -> Any:
    """A config field that is also a command-line option.

    choices: the allowed values (an enum flag); minimum, maximum: the lowest
    and highest allowed values (inclusive); flag: the flag's name where it
    differs from the field's. A float option is also refused when not finite.
    """
    metadata = {"help": help, "choices": tuple(choices), "minimum": minimum, "maximum": maximum, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def nested(config_class: type) -> Any:
    """A field holding another config, whose options join this one's."""
    return dataclasses.field(default_factory=config_class)


@dataclasses.dataclass(frozen=True)
class _Option:
    flag: str
    field: dataclasses.Field
    kind: Any  # bool, int, float, str or tuple[str, ...]


def _value_type(hint: Any) -> Any:
    """int for `int`, float for `float | None`; anything else (tuple[...], a config class) as it is."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return hint
    return next(a for a in typing.get_args(hint) if a is not type(None))


def _is_list(kind: Any) -> bool:
    """Whether a field of this type is a list flag: `tuple[str, ...]`."""
    return typing.get_origin(kind) is tuple


def _flag(field: dataclasses.Field) -> str:
    return field.metadata["flag"] or field.name


def _walk(config_class: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        yield field, _value_type(hints[field.name])


def _options(config_class: type) -> Iterator[_Option]:
    for field, kind in _walk(config_class):
        if dataclasses.is_dataclass(kind):
            yield from _options(kind)
        elif "help" in field.metadata:
            yield _Option(_flag(field), field, kind)


def check(config: Any) -> None:
    """Raises UserError naming the flag when one of config's own options is outside its choices or bounds,
    or is a float that is not finite (nan, inf: absl's bounds let them through).

    A list option is checked element by element.
    """
    for field in dataclasses.fields(config):
        value, meta = getattr(config, field.name), field.metadata
        if "help" not in meta or value is None:
            continue
        name = _flag(field)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, float) and not math.isfinite(item):
                raise UserError(f"--{name}={item}: must be a finite number")
            if meta["choices"] and item not in meta["choices"]:
                raise UserError(f"--{name}={item}: use one of {', '.join(map(str, meta['choices']))}")
            if meta["minimum"] is not None and item < meta["minimum"]:
                raise UserError(f"--{name}={item}: must be at least {meta['minimum']}")
            if meta["maximum"] is not None and item > meta["maximum"]:
                raise UserError(f"--{name}={item}: must be at most {meta['maximum']}")


def define_flags(config_class: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines a flag for every option of config_class and the configs it nests."""
    for o in _options(config_class):
        default, meta = o.field.default, o.field.metadata
        common = {"flag_values": flag_values}
        if _is_list(o.kind):
            flags.DEFINE_list(o.flag, list(default), meta["help"], **common)
        elif meta["choices"]:
            flags.DEFINE_enum(o.flag, default, list(meta["choices"]), meta["help"], **common)
        elif o.kind is bool:
            flags.DEFINE_bool(o.flag, default, meta["help"], **common)
        elif o.kind in (int, float):
            define = flags.DEFINE_integer if o.kind is int else flags.DEFINE_float
            define(
                o.flag,
                default,
                meta["help"],
                lower_bound=meta["minimum"],
                upper_bound=meta["maximum"],
                **common,
            )
        else:
            flags.DEFINE_string(o.flag, default, meta["help"], **common)


def build(config_class: type, values: dict[str, Any], **given: Any) -> Any:
    """config_class with the options in values (by flag), defaults for the rest; `given`: other fields."""
    unknown = set(values) - {o.flag for o in _options(config_class)}
    if unknown:
        raise UserError(f"{config_class.__name__} has no option {', '.join(sorted(unknown))}")
    return _build(config_class, values, given)


def _build(config_class: type, values: dict[str, Any], given: dict[str, Any]) -> Any:
    fields = dict(given)
    for field, kind in _walk(config_class):
        if dataclasses.is_dataclass(kind):
            fields[field.name] = _build(kind, values, {})
        elif "help" in field.metadata and _flag(field) in values:
            value = values[_flag(field)]
            # A list flag's value is a list; a frozen config holds a tuple (hashable, immutable).
            fields[field.name] = tuple(value) if _is_list(kind) and value is not None else value
    return config_class(**fields)


def from_flags(config_class: type, flag_values: flags.FlagValues = flags.FLAGS, **given: Any) -> Any:
    """config_class as the flags of define_flags(config_class) describe it; `given` sets its other fields."""
    return build(config_class, {o.flag: flag_values[o.flag].value for o in _options(config_class)}, **given)


def from_dict(config_class: type, values: dict, **given: Any) -> Any:
    """config_class from its JSON form (dataclasses.asdict, nested), ignoring fields it no longer has.

    What a model directory recorded by any earlier release loads as: a field
    that was removed is dropped, one that was added takes its default;
    `given` sets or overrides top-level fields.
    """
    fields = {}
    for field, kind in _walk(config_class):
        if field.name not in values:
            continue
        value = values[field.name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(kind, value)
        elif isinstance(value, list):
            value = tuple(value)
        fields[field.name] = value
    return config_class(**{**fields, **given})


def to_flags(config: Any) -> list[str]:
    """The command-line flags (`--name=value`) that give config's options where they differ from defaults."""
    return [
        f"--{o.flag}={getattr(owner, o.field.name)}"
        for owner, o in _owned_options(config)
        if getattr(owner, o.field.name) != o.field.default
    ]


def _owned_options(config: Any) -> Iterator[tuple[Any, _Option]]:
    """Every option of config and the configs it nests, with the config object that holds its value."""
    for field, kind in _walk(type(config)):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(kind):
            yield from _owned_options(value)
        elif "help" in field.metadata:
            yield config, _Option(_flag(field), field, kind)


def flat(config: Any) -> dict:
    """Every field of config and the configs it nests, by field name (what a changed model is checked on)."""
    return flatten(dataclasses.asdict(config))


def flatten(values: dict) -> dict:
    """A nested dict (a config as JSON) as one level of its leaves."""
    out = {}
    for name, value in values.items():
        out.update(flatten(value) if isinstance(value, dict) else {name: value})
    return out
