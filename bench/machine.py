"""One line describing this machine, for the header of every benchmark's results.

The machine kind is not always the same CPU (an AMD EPYC one day, an Intel Xeon the next), and the
absolute figures move with it: the CPU model is part of the line so results can be compared.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def memory() -> str:
    with contextlib.suppress(OSError, KeyError, ValueError, IndexError):
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines())
        total, free = (int(info[k].split()[0]) / 1e6 for k in ("MemTotal", "MemAvailable"))
        return f"{total:.1f} GB total, {free:.1f} GB free"
    return "memory unknown"


def machine() -> str:
    """``2 CPUs (Intel(R) Xeon(R) Processor), x86_64, 24.7 GB total, 23.8 GB free, Python 3.11.7``."""
    return (f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.machine()}, {memory()}, "
            f"Python {platform.python_version()}")
