"""structlog setup: human console lines on a terminal, JSON lines otherwise.

The level can change at runtime (Calico's logSeverityScreen, `set_level`). structlog's own
filtering loggers fix their level when first used and every module's logger is cached on
first use, so pyrr's logger class reads one shared threshold instead: a call below it
is a comparison and a return. Hot paths that would build costly arguments for a line that is
usually filtered ask `enabled(level)` first.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    # BIRD / calico logSeverityScreen spellings
    "fatal": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}

DEBUG = logging.DEBUG
INFO = logging.INFO


class _Threshold:
    __slots__ = ("level",)

    def __init__(self) -> None:
        self.level = logging.INFO


_threshold = _Threshold()


def level_number(name: str) -> int:
    return LEVELS.get(name.strip().lower(), logging.INFO)


def set_level(name: str) -> None:
    """Change the level of every pyrr logger, including those already used."""
    _threshold.level = level_number(name)


def enabled(level: int) -> bool:
    return level >= _threshold.level


class LevelLogger(structlog.BoundLoggerBase):
    """A bound logger whose threshold is the module's `_threshold`, read at each call."""

    def debug(self, event: str, **kw: Any) -> Any:
        if _threshold.level <= logging.DEBUG:
            return self._proxy_to_logger("debug", event, **kw)
        return None

    def info(self, event: str, **kw: Any) -> Any:
        if _threshold.level <= logging.INFO:
            return self._proxy_to_logger("info", event, **kw)
        return None

    def warning(self, event: str, **kw: Any) -> Any:
        if _threshold.level <= logging.WARNING:
            return self._proxy_to_logger("warning", event, **kw)
        return None

    warn = warning

    def error(self, event: str, **kw: Any) -> Any:
        if _threshold.level <= logging.ERROR:
            return self._proxy_to_logger("error", event, **kw)
        return None

    def exception(self, event: str, **kw: Any) -> Any:
        kw.setdefault("exc_info", True)
        return self.error(event, **kw)

    def critical(self, event: str, **kw: Any) -> Any:
        if _threshold.level <= logging.CRITICAL:
            return self._proxy_to_logger("critical", event, **kw)
        return None


def setup(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    out = stream or sys.stderr
    if json is None:
        json = not out.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    set_level(level)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=LevelLogger,
        logger_factory=structlog.PrintLoggerFactory(out),
        # Each module's logger is configured once: a log call costs no logger creation.
        cache_logger_on_first_use=True,
    )
