"""Sampling the gunicorn workers with py-spy under load, and summarising where the CPU goes."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

# Frames in py-spy's raw (collapsed) output look like `function (path/to/file.py:123)`.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::\d+)?\)$")
_PACKAGES = (
    "shipyard",
    "sqlalchemy",
    "asyncpg",
    "structlog",
    "prometheus_client",
    "starlette",
    "fastapi",
    "pydantic",
    "pydantic_core",
    "uvicorn",
    "httptools",
    "asyncio",
    "anyio",
    "threading",
    "logging",
    "json",
)
TOP = 25


def profile_workers(py_spy: str, pids: list[int], prefix: Path, duration: float, load: Callable[[], Any]) -> str:
    """Record the first worker as collapsed stacks and the second as a flamegraph while `load` runs."""
    seconds = str(max(1, round(duration)))
    raw = prefix.with_suffix(".collapsed.txt")
    svg = prefix.with_suffix(".svg")
    outputs = [("raw", raw), ("flamegraph", svg)]
    recorders = [
        subprocess.Popen(
            # --gil keeps only the samples of the thread running Python code: idle threads (anyio's
            # pool waiting for work) otherwise show up as busy in Condition.wait. Blocking mode (no
            # --nonblocking) pauses the worker per sample, so stacks are read consistently.
            [py_spy, "record", "--pid", str(pid), "--duration", seconds, "--rate", "200", "--gil", *_output(fmt, path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for pid, (fmt, path) in zip(pids, outputs, strict=False)
    ]
    try:
        load()
    finally:
        errors = []
        for recorder in recorders:
            try:
                _, stderr = recorder.communicate(timeout=duration + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                _, stderr = recorder.communicate()
            if recorder.returncode != 0:
                errors.append(stderr.decode(errors="replace").strip())
    if errors or not raw.exists():
        return "py-spy failed:\n" + "\n".join(errors)
    return f"flamegraph: {svg}\ncollapsed stacks: {raw}\n\n" + summarise(raw.read_text(encoding="utf-8"))


def _output(fmt: str, path: Path) -> list[str]:
    return ["--format", fmt, "--output", str(path)]


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match["function"], match["file"]


def _package(file: str) -> str:
    parts = Path(file).parts
    for package in _PACKAGES:
        if package in parts or file.startswith(package + "/"):
            return package
    return "other"


def summarise(collapsed: str) -> str:
    """Self time by package, and the top functions by self and by inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_parse(frame) for frame in stack.split(";")]
        # The first frame is the thread ("process 1234:..."), not code.
        frames = [frame for frame in frames if frame[1]]
        if not frames:
            continue
        function, file = frames[-1]
        own[f"{function} ({_short(file)})"] += count
        packages[_package(file)] += count
        for name in {f"{f} ({_short(p)})" for f, p in frames}:
            inclusive[name] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "self time by package:"]
    lines += [f"  {share(n, total)}  {name}" for name, n in packages.most_common()]
    lines += ["", "top functions by self time:"]
    lines += [f"  {share(n, total)}  {name}" for name, n in own.most_common(TOP)]
    lines += ["", "top functions by inclusive time:"]
    lines += [f"  {share(n, total)}  {name}" for name, n in inclusive.most_common(TOP * 2)]
    return "\n".join(lines)


def share(count: int, total: int) -> str:
    """A count as a right-aligned percentage of `total`."""
    return f"{count / total:6.1%}"


def _short(file: str) -> str:
    marker = "site-packages/"
    if marker in file:
        return file.split(marker, 1)[1]
    if "/src/" in file:
        return file.split("/src/", 1)[1]
    return file


if __name__ == "__main__":
    import sys

    print(summarise(Path(sys.argv[1]).read_text(encoding="utf-8")))
