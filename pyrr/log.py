"""structlog setup: human console lines on a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

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


def level_number(name: str) -> int:
    return LEVELS.get(name.strip().lower(), logging.INFO)


def setup(level: str = "info", stream: TextIO | None = None, json: bool | None = None) -> None:
    out = stream or sys.stderr
    if json is None:
        json = not out.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(out),
        # Each module's logger is configured once: a log call costs no logger creation.
        cache_logger_on_first_use=True,
    )
