"""Argument types the subcommands share: a bad number is a usage error (exit 2) naming the
option, before any work, instead of a library's error deep in a run."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1 (threads, documents, requests in flight)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def percent(text: str) -> int:
    """A whole percentage from 0 to 99 (a split's share)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to 99, not {value}")
    return value


def share(text: str) -> float:
    """A number in (0, 1] (a recall target)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {value}")
    return value
