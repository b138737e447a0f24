"""Helpers the benchmark scripts share: the development sources, timing and
writing tables to docs/."""

import platform
import re
import time
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent.parent / "docs"
RESULTS = DOCS / "benchmarks.md"
# The development sources, by their --source names: load_default's source
# and room. Every quality figure is measured on all of them.
SOURCES = {
    "timgm6mb": ("timgm6mb", None),
    "csound": ("csound", None),
    "timgm6mb-recorded": ("timgm6mb", "recorded"),
    "csound-recorded": ("csound", "recorded"),
}


# Test material plays the melodies of this load_default seed; the
# development sources play those of 0.
UNSEEN_MELODIES = 2


def load_source(source, random_state=0):
    """The default data of a development source, by its ``--source`` name."""
    from sktimbre.datasets import load_default

    name, room = SOURCES[source]
    return load_default(source=name, room=room, random_state=random_state)


def unseen_sources(soundfonts):
    """Test sources by name: the (soundfont file, room) of each file, dry and
    recorded. Their figures check the defaults and never choose them."""
    return {f"{Path(f).stem}{suffix}": (str(f), room) for f in soundfonts
            for suffix, room in (("", None), ("-recorded", "recorded"))}


def load_unseen(unseen, melodies=UNSEEN_MELODIES):
    """The data of a test source: its (soundfont, room) playing ``melodies``."""
    from sktimbre.datasets import load_default

    return load_default(soundfont=unseen[0], room=unseen[1], random_state=melodies)


def best_time(function, repeat=3):
    """Fastest of ``repeat`` runs, in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def _cpu_name():
    """The CPU's model name where Linux tells it, else the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine():
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{_cpu_name()} ({platform.machine()}), "
            f"{torch.get_num_threads()} torch threads, {device}, "
            f"torch {torch.__version__}")


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name, body, path=RESULTS):
    """Replace (or append) the section ``name`` of docs/benchmarks.md (or
    of another page of docs/ that shows the same measurements)."""
    DOCS.mkdir(exist_ok=True)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else (
        text.rstrip() + "\n\n" + block + "\n"
    )
    path.write_text(text)
