"""The command protocol shared by every `mlops` subcommand, and the run context.

Command modules are imported to build `--help`, so they import only the standard library and
this package's light modules; a command's `run` imports its step (and the heavy libraries) lazily.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_actions.config import Settings
    from mlops_actions.results import StepResult


@dataclass
class Context:
    """What a command gets: parsed flags, where the config is, where reports go."""

    args: argparse.Namespace
    config_path: Path
    config_explicit: bool
    report_dir: Path | None
    json: bool
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """mlops.yaml, loaded and validated once; raises ConfigError."""
        if self._settings is None:
            from mlops_actions.config import load_settings

            self._settings = load_settings(self.config_path)
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
