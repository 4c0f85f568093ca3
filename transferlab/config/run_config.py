"""A whole run's config: TOML file <-> frozen, validated dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from transferlab._atomic import atomic_write_text
from transferlab.config.data_config import AUTO_AUGMENT, AUTO_AUGMENT_KINDS, DataConfig
from transferlab.config.model_config import ModelConfig
from transferlab.config.strategy_config import StrategyConfig
from transferlab.config_section import ConfigSection
from transferlab.data.augmentation import make_augmentation
from transferlab.errors import ConfigError, describe
from transferlab.evaluation.tta_probabilities import DEFAULT_TTA_PRESET
from transferlab.training.options import TrainingOptions

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["RunConfig"]

_SECTIONS: dict[str, type[ConfigSection]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "strategy": StrategyConfig,
    "training": TrainingOptions,
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; what `transferlab train --config` reads.

    A TOML file has up to four tables, ``[data]``, ``[model]``, ``[strategy]``
    and ``[training]``; missing keys take their defaults. The resolved config is
    saved in the run folder (``config.toml``) and can be run again.

    Example:
        >>> config = RunConfig.from_toml('''
        ... [model]
        ... backbone = "alexnet"
        ... [strategy]
        ... kind = "feature_extraction"
        ... ''')
        >>> config.strategy.kind, config.training.batch_size
        ('feature_extraction', 64)
        >>> config.with_overrides({"training.batch_size": 32}).training.batch_size
        32
        >>> RunConfig.from_toml(config.to_toml()) == config
        True
    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    training: TrainingOptions = dataclasses.field(default_factory=TrainingOptions)

    def augment_preset(self, kind: str | None = None) -> str:
        """The augmentation preset training batches get: ``data.augment``, with ``auto`` resolved.

        ``auto`` is :data:`~transferlab.config.data_config.AUTO_AUGMENT` for a strategy in
        :data:`~transferlab.config.data_config.AUTO_AUGMENT_KINDS`
        trained on a few labels per class (``data.labels_per_class`` set): there
        it was measured to help (docs/results.md); elsewhere none (for fine-tuning
        and scratch on few labels it helped at one label per class and hurt at
        ten; with many labels, pick a preset for the task).

        Args:
            kind: The strategy that trains (default: ``strategy.kind``; ``auto``
                resolves per candidate).

        Example:
            >>> few = RunConfig.from_mapping({"data": {"labels_per_class": 10}, "strategy": {"kind": "lp_ft"}})
            >>> few.augment_preset(), few.augment_preset("fine_tune"), RunConfig().augment_preset()
            ('standard', 'none', 'none')
        """
        if self.data.augment != "auto":
            return self.data.augment
        kind = kind or self.strategy.kind
        few_labels = bool(self.data.labels_per_class)
        return AUTO_AUGMENT if few_labels and kind in AUTO_AUGMENT_KINDS else "none"

    def augmentation(self, kind: str | None = None) -> keras.layers.Layer | None:
        """The augmentation layer for training batches (:meth:`augment_preset`, ``data.augment_strength``,
        seeded by ``training.seed``), or ``None`` when the preset is none."""
        preset = self.augment_preset(kind)
        if preset == "none":
            return None
        return make_augmentation(preset, strength=self.data.augment_strength, seed=self.training.seed)

    def tta_preset(self, kind: str | None = None) -> str:
        """The preset test-time augmentation draws its copies with: the training one, else ``light``.

        Example:
            >>> RunConfig.from_mapping({"data": {"augment": "strong"}}).tta_preset(), RunConfig().tta_preset()
            ('strong', 'light')
        """
        preset = self.augment_preset(kind)
        return preset if preset != "none" else DEFAULT_TTA_PRESET

    def __post_init__(self) -> None:
        if self.strategy.kind == "scratch" and (self.model.weights or self.model.pretrain_classes):
            raise ConfigError(
                describe(
                    "strategy.kind='scratch' trains from random weights, which contradicts "
                    "model.weights / model.pretrain_classes",
                    received=f"model.weights={self.model.weights!r}, "
                    f"model.pretrain_classes={list(self.model.pretrain_classes)}",
                    fix="drop the weights and pretraining for a scratch run, or pick a transfer "
                    "strategy (feature_extraction, fine_tune, gradual)",
                )
            )
        source, target = self.model.pretrain_classes, self.data.classes
        overlap = sorted(set(source) & set(target)) if target else sorted(set(source))
        if source and overlap:
            raise ConfigError(
                describe(
                    "`model.pretrain_classes` overlap the target classes `data.classes`: pretraining "
                    "on the very classes of the target is no transfer",
                    received=f"model.pretrain_classes={list(source)}, data.classes="
                    + (f"{list(target)}" if target else "[] (all classes)")
                    + f"; both hold {overlap}",
                    fix="pretrain on other classes than the target's, e.g. pretrain_classes = "
                    "[0, 1, 2, 3, 4] with classes = [5, 6, 7, 8, 9]",
                )
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> RunConfig:
        """Builds a config from nested tables, rejecting unknown sections and keys."""
        for name in mapping:
            if name not in _SECTIONS:
                close = difflib.get_close_matches(name, list(_SECTIONS), n=1)
                raise ConfigError(
                    describe(
                        f"Unknown config section `[{name}]`",
                        accepted=", ".join(f"[{s}]" for s in _SECTIONS),
                        fix=f"did you mean `[{close[0]}]`?" if close else "remove it",
                    )
                )

        def table(name: str) -> Mapping[str, object]:
            value = mapping.get(name, {})
            if not isinstance(value, Mapping):
                raise ConfigError(
                    describe(f"Config section `[{name}]` must be a table", received=f"{name}={value!r}")
                )
            return value

        return cls(
            data=DataConfig.from_mapping(table("data")),
            model=ModelConfig.from_mapping(table("model")),
            strategy=StrategyConfig.from_mapping(table("strategy")),
            training=TrainingOptions.from_mapping(table("training")),
        )

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<string>") -> RunConfig:
        r"""Parses TOML text (``source`` names it in errors); a leading byte-order mark is ignored.

        Example:
            >>> RunConfig.from_toml("\ufeff[training]\nseed = 3\n").training.seed
            3
        """
        text = text.removeprefix("\ufeff")  # editors on Windows save UTF-8 with a BOM
        try:
            mapping = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(
                describe(f"{source} is not valid TOML", received=str(error), fix="check the line it names")
            ) from None
        return cls.from_mapping(mapping)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunConfig:
        """Reads a TOML config file.

        The file is UTF-8, with or without a byte-order mark.

        Raises:
            ConfigError: For a missing or unreadable file, text that is not
                UTF-8, invalid TOML, or a bad key, type or value.
        """
        file = Path(path)
        if not file.is_file():
            raise ConfigError(
                describe(
                    "Config file not found",
                    received=str(file),
                    fix="pass the path of a .toml file (see examples/*.toml)",
                )
            )
        try:
            text = file.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ConfigError(
                describe(
                    f"{file} is not UTF-8 text",
                    received=f"byte {error.object[error.start]:#04x} at offset {error.start}",
                    fix="save the config file as UTF-8",
                )
            ) from None
        except OSError as error:
            raise ConfigError(
                describe(
                    f"Cannot read the config file {file}",
                    received=f"{type(error).__name__}: {error.strerror or error}",
                    fix="check the file's permissions",
                )
            ) from None
        return cls.from_toml(text, source=str(file))

    def with_overrides(self, overrides: Mapping[str, object]) -> RunConfig:
        """Returns a copy with dotted keys replaced (``{"training.seed": 1}``).

        ``None`` values are skipped, so unset command-line flags change nothing.
        """
        mapping = self.to_mapping()
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if section not in mapping or not key:
                raise ConfigError(
                    describe(
                        "Unknown config key", received=dotted, accepted="section.key, e.g. training.seed"
                    )
                )
            mapping[section][key] = list(value) if isinstance(value, tuple) else value
        return RunConfig.from_mapping(mapping)

    def to_mapping(self) -> dict[str, dict[str, object]]:
        """Nested plain dicts (for JSON and TOML)."""
        return {name: getattr(self, name).to_mapping() for name in _SECTIONS}

    def to_toml(self) -> str:
        """The config as TOML text, every key written out, readable by :meth:`from_toml`."""
        lines: list[str] = []
        for name, table in self.to_mapping().items():
            section = _SECTIONS[name]
            docs = section.field_docs()
            lines.append(f"[{name}]")
            for key, value in table.items():
                lines.append(f"# {docs[key]}")
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes :meth:`to_toml` atomically to ``path``."""
        return atomic_write_text(path, self.to_toml())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
