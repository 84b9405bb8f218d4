"""The command protocol shared by every `mlops` subcommand, and the run context.

Command modules are imported to build `--help`, so they import only the standard library and
this package's light modules; a command's `run` imports its step (and the heavy libraries) lazily.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_actions.config import Override, Settings
    from mlops_actions.results import StepResult


Subcommands = Callable[[], "dict[str, tuple[Command, argparse.ArgumentParser]]"]


@dataclass
class Context:
    """What a command gets: parsed flags, where the config is, where reports go.

    `settings()` is mlops.yaml with the command's setting flags applied (`overrides`): a command
    reads every configurable value from there, never from `args`.
    """

    args: argparse.Namespace
    config_path: Path
    config_explicit: bool
    report_dir: Path | None
    json: bool
    overrides: list[Override] = field(default_factory=list)
    subcommands: Subcommands | None = field(default=None, repr=False)
    """The table of every subcommand, for commands that run others (`pipeline run`)."""
    _settings: Settings | None = field(default=None, repr=False)

    @classmethod
    def from_args(
        cls,
        args: argparse.Namespace,
        *,
        config: Path | None = None,
        report_dir: Path | None = None,
        subcommands: Subcommands | None = None,
    ) -> Context:
        """The context of parsed `args` (whose `_parser` is the subcommand's parser): the config
        from `config`, else --config, else $MLOPS_CONFIG, else ./mlops.yaml."""
        from mlops_actions.commands.options import overrides_from

        given = config or getattr(args, "config", None)
        explicit = given is not None or "MLOPS_CONFIG" in os.environ
        path = given or Path(os.environ.get("MLOPS_CONFIG", "mlops.yaml"))
        parser = getattr(args, "_parser", None)
        return cls(
            args=args,
            config_path=path,
            config_explicit=explicit,
            report_dir=report_dir or getattr(args, "report_dir", None),
            json=bool(getattr(args, "json", False)),
            overrides=overrides_from(parser, args) if parser is not None else [],
            subcommands=subcommands,
        )

    def has_config(self) -> bool:
        """Whether there is an mlops.yaml to read (or one was asked for, which must then exist)."""
        return self.config_explicit or self.config_path.exists()

    def optional_settings(self) -> Settings | None:
        """`settings()` when there is a config (see `has_config`), else None."""
        return self.settings() if self.has_config() else None

    def section(self, name: str) -> Any:
        """Section `name` of the settings; without a config file, that section's defaults with
        the command's setting flags over them (for commands that also run on flags alone)."""
        if self.has_config():
            return getattr(self.settings(), name)
        from mlops_actions.config import section_from_overrides

        return section_from_overrides(name, self.overrides, Path.cwd())

    def report_folder(self, settings: Settings | None) -> Path:
        """Where the command writes its reports: --report-dir, else the state folder's `reports`
        (`config.default_report_dir`; `./.mlops/reports` for commands run without mlops.yaml)."""
        if self.report_dir is not None:
            return Path(self.report_dir)
        from mlops_actions.config import default_report_dir

        return default_report_dir(settings)

    def settings(self) -> Settings:
        """mlops.yaml with the flags over it, loaded and validated once; raises ConfigError."""
        if self._settings is None:
            from mlops_actions.config import apply_overrides, load_settings

            self._settings = apply_overrides(load_settings(self.config_path), self.overrides)
        return self._settings


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, help, flags and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context], StepResult]
    aliases: tuple[str, ...] = ()
    description: str | None = None
    outputs: tuple[tuple[str, str], ...] = ()
    """(name, description) of each output, as the action declares them."""
