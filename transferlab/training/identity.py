"""A run's identity: everything that decides its numbers, canonical and hashed.

Two runs with the same identity compute the same thing, so one may resume the
other's backup; two runs with different identities must never share a run
folder. The identity is a JSON tree of *components* (the model's description,
digests of its initial weights and of the data, the phases, the options that
change the numbers...); big things go in as digests (:func:`weights_digest`,
:func:`arrays_digest`), Keras objects as stable descriptions
(:func:`describe_object`, :func:`model_description`).
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import hashlib
import json
import math
import re
import types
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING

import numpy as np

from transferlab.data.fingerprint import arrays_digest
from transferlab.errors import ConfigError, ResumeError, describe

if TYPE_CHECKING:
    import keras

__all__ = ["RunIdentity", "arrays_digest", "describe_object", "model_description", "weights_digest"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_ABSENT = object()


@dataclasses.dataclass(frozen=True, repr=False)
class RunIdentity:
    """Everything that decides a run's numbers, as canonical JSON with a SHA-256 digest.

    The components are checked and made canonical on construction (keys
    sorted, tuples as lists, NumPy scalars as numbers); a value that is not
    JSON raises :class:`~transferlab.errors.ConfigError` naming its key.

    Args:
        components: A JSON tree with string keys: ``None``, bools, ints,
            finite floats, strings, lists and dicts. Describe Keras objects
            with :func:`describe_object` and hash big things first.

    Example:
        >>> a = RunIdentity.from_components({"seed": 0, "data": {"train": "ab" * 32}})
        >>> b = RunIdentity.from_components({"data": {"train": "cd" * 32}, "seed": 0})
        >>> a == RunIdentity.from_components({"data": {"train": "ab" * 32}, "seed": 0})
        True
        >>> a.digest == b.digest, len(a.digest), len(a.short())
        (False, 64, 10)
        >>> a.differences(b)
        ['data.train: sha256 ababab…abab ≠ cdcdcd…cdcd']
        >>> RunIdentity.from_json(a.to_json()) == a
        True
    """

    components: Mapping[str, object]

    def __post_init__(self) -> None:
        if not isinstance(self.components, Mapping):
            raise ConfigError(
                describe(
                    "A run identity's components must be a mapping of names to JSON values",
                    received=f"components of type {type(self.components).__name__}",
                    fix="pass a dict, e.g. RunIdentity.from_components({'seed': 0})",
                )
            )
        object.__setattr__(self, "components", _canonical(self.components, ""))

    @classmethod
    def from_components(cls, components: Mapping[str, object]) -> RunIdentity:
        """The identity of ``components`` (checked for JSON-ability, made canonical).

        Example:
            >>> RunIdentity.from_components({"model": {"seed": object()}})
            Traceback (most recent call last):
            ...
            transferlab.errors.ConfigError: A run identity's components must be JSON values. Received: model.seed of type object. Accepted: None, bool, int, finite float, str, and lists and dicts (with string keys) of them. Fix: describe the value with describe_object(...), or pass a digest of it (weights_digest, arrays_digest).
        """
        return cls(components)

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the components."""
        return hashlib.sha256(_canonical_json(self.components).encode("utf-8")).hexdigest()

    def short(self, n: int = 10) -> str:
        """The first ``n`` hex digits of :attr:`digest` (for run names and messages).

        Example:
            >>> RunIdentity.from_components({}).short(4)
            '4413'
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
            raise ConfigError(describe("`n` must be a whole number from 1 to 64", received=f"n={n!r}"))
        return self.digest[:n]

    def differences(self, other: RunIdentity, *, limit: int = 8) -> list[str]:
        """Readable lines ``"<dotted path>: <this value> ≠ <other value>"``, at most ``limit`` of them.

        Paths go into the components (``model.config.layers[4].config.pooling``);
        digests are shortened (``sha256 3f2a9c…c091``), long values cut, a key
        present on one side only shows ``(absent)`` on the other. When there
        are more than ``limit`` differences, a last line says how many more.

        Args:
            other: The identity to compare with.
            limit: The most differences listed (>= 1).

        Returns:
            The lines; ``[]`` when the identities are equal.

        Example:
            >>> a = RunIdentity.from_components({"pooling": "avg", "size": [28, 28]})
            >>> b = RunIdentity.from_components({"pooling": "max", "size": [32, 32], "dropout": 0.5})
            >>> a.differences(b, limit=2)
            ['dropout: (absent) ≠ 0.5', "pooling: 'avg' ≠ 'max'", '… and 2 more differences']
        """
        if not isinstance(other, RunIdentity):
            raise ConfigError(
                describe(
                    "`differences` compares two RunIdentity objects",
                    received=f"other of type {type(other).__name__}",
                )
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(describe("`limit` must be a whole number >= 1", received=f"limit={limit!r}"))
        lines: list[str] = []
        extra = 0
        for line in _diff(self.components, other.components, ""):
            if len(lines) < limit:
                lines.append(line)
            else:
                extra += 1
        if extra:
            lines.append(f"… and {extra} more difference{'s' if extra > 1 else ''}")
        return lines

    def to_json(self) -> dict[str, object]:
        """``{"digest": ..., "components": {...}}``, for a JSON file."""
        return {"digest": self.digest, "components": copy.deepcopy(dict(self.components))}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> RunIdentity:
        """The identity :meth:`to_json` wrote; its digest is checked when present.

        Raises:
            ResumeError: ``d`` is not such a record, or its digest does not
                match its components (the file was edited).

        Example:
            >>> RunIdentity.from_json({"components": {"seed": 0}, "digest": "0" * 64})
            Traceback (most recent call last):
            ...
            transferlab.errors.ResumeError: A stored run identity does not match its digest (it was edited or damaged). Received: digest 000000…0000, computed bd0488…0d97. Fix: start the run again with overwrite=True (or `--overwrite`), or use another run name.
        """
        components = d.get("components") if isinstance(d, Mapping) else None
        if not isinstance(components, Mapping):
            raise ResumeError(
                describe(
                    "A stored run identity must be a record with its `components`",
                    received=f"{type(d).__name__}"
                    + (f" with keys {sorted(map(str, d))}" if isinstance(d, Mapping) else ""),
                    fix="start the run again with overwrite=True (or `--overwrite`), or use another run name",
                )
            )
        identity = cls(components)
        stored = d.get("digest")
        if stored is not None and stored != identity.digest:
            raise ResumeError(
                describe(
                    "A stored run identity does not match its digest (it was edited or damaged)",
                    received=f"digest {_short_hex(str(stored))}, computed {_short_hex(identity.digest)}",
                    fix="start the run again with overwrite=True (or `--overwrite`), or use another run name",
                )
            )
        return identity

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"RunIdentity(digest={self.short()!r}, components={sorted(self.components)!r})"


# Canonical JSON ------------------------------------------------------------
def _join(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _canonical(value: object, path: str) -> object:
    """``value`` as canonical JSON data (sorted keys, lists), or ConfigError naming ``path``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return _not_json(path, f"{path or 'components'}={value!r} (not finite)")
    if isinstance(value, np.generic) and not isinstance(value, (np.object_, np.void)):
        return _canonical(value.item(), path)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                _not_json(path, f"key {key!r} of type {type(key).__name__} in {path or 'components'}")
        return {key: _canonical(value[key], _join(path, key)) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return _not_json(path, f"{path or 'components'} of type {type(value).__name__}")


def _not_json(path: str, received: str) -> object:
    raise ConfigError(
        describe(
            "A run identity's components must be JSON values",
            received=received,
            accepted="None, bool, int, finite float, str, and lists and dicts (with string keys) of them",
            fix="describe the value with describe_object(...), or pass a digest of it "
            "(weights_digest, arrays_digest)",
        )
    )


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# Differences ---------------------------------------------------------------
def _short_hex(value: str) -> str:
    return f"{value[:6]}…{value[-4:]}"


def _show(value: object) -> str:
    if value is _ABSENT:
        return "(absent)"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "…" + text[-2:]


def _diff(a: object, b: object, path: str) -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _diff(a.get(key, _ABSENT), b.get(key, _ABSENT), _join(path, key))
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            yield from _diff(a[i] if i < len(a) else _ABSENT, b[i] if i < len(b) else _ABSENT, f"{path}[{i}]")
        return
    if a is not _ABSENT and b is not _ABSENT and type(a) is type(b) and a == b:
        return
    where = path or "(components)"
    if isinstance(a, str) and isinstance(b, str) and _HEX64.fullmatch(a) and _HEX64.fullmatch(b):
        yield f"{where}: sha256 {_short_hex(a)} ≠ {_short_hex(b)}"
    else:
        yield f"{where}: {_show(a)} ≠ {_show(b)}"


# Digests -------------------------------------------------------------------
def weights_digest(model: keras.Model) -> str:
    """SHA-256 (hex) over every weight's path, dtype, shape and values, in ``model.weights`` order.

    Auto-generated layer names in the paths (``dense_3/kernel``) are numbered
    afresh by order of appearance, so building the same seeded model twice
    in one process gives the same digest. Random-generator states (not
    weights) are left out.

    Example:
        >>> import keras
        >>> def build(seed):
        ...     keras.utils.set_random_seed(seed)
        ...     return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> weights_digest(build(0)) == weights_digest(build(0)), weights_digest(build(0)) == weights_digest(build(1))
        (True, False)
    """
    weights = list(model.weights)
    paths = _renumber_path_segments([str(getattr(w, "path", w.name)) for w in weights])
    h = hashlib.sha256(f"transferlab.weights_digest/1 {len(weights)}\n".encode())
    for weight, path in zip(weights, paths):
        value = weight.numpy() if hasattr(weight, "numpy") else weight
        arr = np.ascontiguousarray(np.asarray(value))
        h.update(f"{path} {weight.dtype} {list(arr.shape)} {arr.nbytes}\n".encode())
        h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


# Stable names --------------------------------------------------------------
class _Renumber:
    """Gives names of one base (``dense``, ``dense_1``, ``dense_7``) fresh numbers by first appearance."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, base: str) -> None:
        if name not in self.names:
            index = self.counts.get(base, 0)
            self.counts[base] = index + 1
            self.names[name] = base if index == 0 else f"{base}_{index}"


def _renumber_path_segments(paths: list[str]) -> list[str]:
    renumber = _Renumber()
    for path in paths:
        for segment in path.split("/"):
            renumber.add(segment, re.sub(r"_\d+$", "", segment))
    return ["/".join(renumber.names[s] for s in path.split("/")) for path in paths]


def _snake(name: str) -> str:
    """Keras' ``to_snake_case`` (what its auto-names start with)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _stable_names(tree: object) -> object:
    """``tree`` (serialized Keras objects) with auto-generated names numbered by first appearance.

    A name is auto-generated when it is the snake-case of its object's class,
    optionally with Keras' ``_<n>`` suffix (``dense_3`` of a ``Dense``). It is
    replaced where names are: ``name`` values, ``keras_history`` and the
    functional ``input_layers`` / ``output_layers`` references.
    """
    renumber = _Renumber()

    def collect(node: object) -> None:
        if isinstance(node, dict):
            cls, config = node.get("class_name"), node.get("config")
            if isinstance(cls, str) and isinstance(config, dict) and isinstance(config.get("name"), str):
                base, name = _snake(cls), config["name"]
                if name == base or re.fullmatch(re.escape(base) + r"_\d+", name):
                    renumber.add(name, base)
            for key in sorted(node):
                collect(node[key])
        elif isinstance(node, list):
            for item in node:
                collect(item)

    def names_in(node: object) -> object:
        if isinstance(node, str):
            return renumber.names.get(node, node)
        if isinstance(node, list):
            return [names_in(item) for item in node]
        if isinstance(node, dict):
            return {key: names_in(value) for key, value in node.items()}
        return node

    def rewrite(node: object) -> object:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, object] = {}
        for key, value in node.items():
            if key == "name" and isinstance(value, str):
                out[key] = renumber.names.get(value, value)
            elif key == "keras_history" and isinstance(value, list) and value and isinstance(value[0], str):
                out[key] = [renumber.names.get(value[0], value[0]), *value[1:]]
            elif key in ("input_layers", "output_layers"):
                out[key] = names_in(value)
            else:
                out[key] = rewrite(value)
        return out

    collect(tree)
    return rewrite(tree)


# Descriptions --------------------------------------------------------------
def _class_path(cls: type) -> str:
    """``keras.optimizers.Adam`` for Keras' exported classes, else ``module.QualName``."""
    exported = cls.__dict__.get("_api_export_path")
    if isinstance(exported, (list, tuple)) and exported:
        exported = exported[0]
    if isinstance(exported, str):
        return exported
    return f"{cls.__module__}.{cls.__qualname__}"


def _float(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)  # 'nan', 'inf', '-inf'


def _plain(value: object) -> object:
    """Serialized Keras data as plain JSON data (``compile_config`` left out)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if k != "compile_config"}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return describe_object(value)


def _keras_types() -> tuple[type, ...]:
    import keras

    return (
        keras.layers.Layer,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.losses.Loss,
        keras.metrics.Metric,
        keras.initializers.Initializer,
        keras.regularizers.Regularizer,
        keras.constraints.Constraint,
    )


def _keras_description(obj: object) -> dict[str, object]:
    """``serialize_keras_object(obj)`` made plain and stable; a structural outline if it fails."""
    import keras

    try:
        serialized = keras.saving.serialize_keras_object(obj)
        if not isinstance(serialized, dict):
            raise TypeError(f"serialized to {type(serialized).__name__}")
    except Exception as err:  # a custom object without a usable get_config
        serialized = {"class_name": type(obj).__name__, "config": _outline(obj), "unserializable": repr(err)}
    described = _stable_names(_plain(serialized))
    assert isinstance(described, dict)
    return described


def _outline(obj: object) -> dict[str, object]:
    """What can be said of an object Keras cannot serialize: its name, sublayers and weight shapes."""
    config: dict[str, object] = {"name": getattr(obj, "name", None), "class": _class_path(type(obj))}
    flatten = getattr(obj, "_flatten_layers", None)
    if callable(flatten):
        config["layers"] = [
            {"class_name": type(layer).__name__, "config": {"name": layer.name}}
            for layer in flatten(include_self=False, recursive=True)
        ]
    weights = getattr(obj, "weights", None)
    if weights is not None:
        config["weights"] = [[str(w.dtype), [int(d) for d in w.shape]] for w in weights]
    return config


def _code_digest(fn: types.FunctionType) -> str:
    """A digest of a function's code (nested code, constants, defaults, simple closure values)."""
    h = hashlib.sha256()

    def feed(code: types.CodeType) -> None:
        h.update(code.co_code)
        h.update(repr((code.co_names, code.co_varnames)).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                feed(const)
            else:
                h.update(_ADDRESS.sub("", repr(const)).encode())

    feed(fn.__code__)
    h.update(_canonical_json(describe_object(list(fn.__defaults__ or ()))).encode())
    for cell in fn.__closure__ or ():
        try:
            content = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        plain = content is None or isinstance(content, (bool, int, float, str))
        h.update(_canonical_json(describe_object(content) if plain else _class_path(type(content))).encode())
    return h.hexdigest()


def describe_object(obj: object) -> object:
    """A stable JSON description of a Keras object, a callable or a plain value.

    - ``None``, bools, ints, strings: as they are; floats too (NaN and
      infinities as ``'nan'``, ``'inf'``, ``'-inf'``); NumPy scalars as numbers.
    - Keras optimizers, losses, metrics, layers, models, schedules,
      initializers...: ``{"class": "keras.optimizers.Adam", "config": {...}}``,
      the config serialized by Keras with auto-generated names (``adam_1``,
      ``random_flip_3``) numbered afresh, so equal objects built one after
      the other describe equally.
    - Functions: their qualified name (``module.name``); lambdas and local
      functions also a digest of their code, so two different lambdas differ.
    - Lists, tuples, dicts (keys as strings), dataclasses, enums (their value),
      paths (as strings), NumPy arrays (dtype, shape and digest); anything else
      its class and its repr without memory addresses.

    Example:
        >>> import keras
        >>> describe_object(0.5), describe_object("adam"), describe_object((1, None))
        (0.5, 'adam', [1, None])
        >>> a = describe_object(keras.optimizers.Adam(1e-3))
        >>> a["class"], a["config"]["name"], a == describe_object(keras.optimizers.Adam(1e-3))
        ('keras.optimizers.Adam', 'adam', True)
        >>> describe_object(keras.losses.sparse_categorical_crossentropy)
        'keras.src.losses.losses.sparse_categorical_crossentropy'
        >>> describe_object(lambda x: x + 1) == describe_object(lambda x: x + 2)
        False
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return describe_object(obj.value)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _float(float(obj))
    if isinstance(obj, np.ndarray):
        return {
            "class": "numpy.ndarray",
            "dtype": obj.dtype.str,
            "shape": [int(d) for d in obj.shape],
            "sha256": arrays_digest(obj),
        }
    if isinstance(obj, np.generic) and not isinstance(obj, (np.object_, np.void)):
        return describe_object(obj.item())
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(key): describe_object(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [describe_object(item) for item in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((describe_object(item) for item in obj), key=_canonical_json)
    if isinstance(obj, type):
        return _class_path(obj)
    if dataclasses.is_dataclass(obj):
        return {
            "class": _class_path(type(obj)),
            "config": {f.name: describe_object(getattr(obj, f.name)) for f in dataclasses.fields(obj)},
        }
    if callable(getattr(obj, "get_config", None)):
        import sys

        if "keras" in sys.modules and isinstance(obj, _keras_types()):
            serialized = _keras_description(obj)
            return {"class": _class_path(type(obj)), "config": serialized.get("config", serialized)}
        try:
            return {"class": _class_path(type(obj)), "config": describe_object(getattr(obj, "get_config")())}  # noqa: B009
        except Exception:
            pass
    if isinstance(obj, functools.partial):
        return {
            "class": "functools.partial",
            "func": describe_object(obj.func),
            "args": describe_object(list(obj.args)),
            "keywords": describe_object(dict(obj.keywords)),
        }
    if isinstance(obj, types.FunctionType):
        name = f"{obj.__module__}.{obj.__qualname__}"
        if "<lambda>" in name or "<locals>" in name:
            return f"{name}#{_code_digest(obj)[:12]}"
        return name
    if isinstance(obj, (types.BuiltinFunctionType, types.MethodType)):
        owner = getattr(obj, "__self__", None)
        prefix = (
            "" if owner is None or isinstance(owner, types.ModuleType) else f"{_class_path(type(owner))}."
        )
        return f"{prefix}{getattr(obj, '__module__', None) or ''}.{obj.__qualname__}".lstrip(".")
    return {"class": _class_path(type(obj)), "repr": _ADDRESS.sub("", repr(obj))}


def model_description(model: keras.Model) -> dict[str, object]:
    """The model's full serialized config, stable across builds in one process.

    ``keras.saving.serialize_keras_object(model)`` (module, class, config with
    every layer and, for functional models, the graph), without the compile
    settings, and with Keras' auto-generated names (``dense``, ``dense_1``,
    ``input_layer_3``, ``functional_2``...) numbered afresh by order of
    appearance, in the layers' configs and in the functional references alike.
    Building the same model twice gives equal descriptions; any config value
    (pooling, input size, width, dropout, units...) that differs makes them
    differ. A model Keras cannot serialize is described by an outline (its
    layers and weight shapes) and the reason.

    Example:
        >>> import keras
        >>> def build(units=4):
        ...     inputs = keras.Input((3,))
        ...     return keras.Model(inputs, keras.layers.Dense(units)(keras.layers.Dense(8)(inputs)))
        >>> a, b = build(), build()
        >>> a.layers[1].name == b.layers[1].name
        False
        >>> model_description(a) == model_description(b), model_description(a) == model_description(build(5))
        (True, False)
        >>> model_description(b)["config"]["layers"][1]["config"]["name"]
        'dense'
    """
    import keras

    if not isinstance(model, keras.layers.Layer):
        raise ConfigError(
            describe(
                "`model_description` needs a Keras model or layer",
                received=f"an object of type {type(model).__name__}",
            )
        )
    return _keras_description(model)
