"""Time and memory of loading a large data file: the shipped rows repeated to N rows.

    python benchmarks/bench_load.py                 # 1,000,000 rows, UCI format (about 28 MB)
    python benchmarks/bench_load.py --format csv    # the shipped CSV format (about 42 MB)
    python benchmarks/bench_load.py --quick         # 100,000 rows

Each load runs in a fresh Python process (Linux: it restarts the peak-memory counter VmHWM after
the imports, through /proc/self/clear_refs).  Prints seconds (best of --repeat), the peak resident
memory above what the process held before the load, tracemalloc's peak, and the size of the
loaded arrays themselves, each also as a multiple of the file's size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from microgrid.data import shipped_path

_MEASURE = """\
import sys, time, tracemalloc
import numpy as np
import microgrid.data.fast
from microgrid.data import load_wisconsin
{setup}


def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))


with open("/proc/self/clear_refs", "w") as f:  # Linux: restart the peak (VmHWM) from here
    f.write("5")
base = status("VmRSS:")
if {trace}:
    tracemalloc.start()  # slows the load down: a run of its own
start = time.perf_counter()
data = {load}
seconds = time.perf_counter() - start
traced = tracemalloc.get_traced_memory()[1]
arrays = [getattr(data, a) for a in ("X", "y", "ids", "lines")] if hasattr(data, "ids") else [data]
result = sum(a.nbytes for a in arrays)
print(seconds, base, status("VmHWM:"), traced, result)
"""


def write_big_file(path: Path, rows: int, fmt: str = "uci") -> int:
    """Write the shipped rows, repeated and renumbered, to ``path`` (``fmt`` "uci" or "csv");
    returns its size in bytes."""
    lines = shipped_path().read_text().splitlines()
    header, body = lines[0], lines[1:]
    out: list[str] = [header] if fmt == "csv" else []
    for i in range(rows):
        cells = body[i % len(body)].split(",")
        if fmt == "csv":
            out.append(",".join([f'"{i + 1}"', *cells[1:]]))
        else:
            scores = ["?" if c == "NA" else c for c in cells[2:11]]
            label = "2" if cells[11] == '"benign"' else "4"
            out.append(",".join([cells[1].strip('"'), *scores, label]))
    path.write_text("\n".join(out) + "\n")
    return path.stat().st_size


# What is timed: microgrid's loader; the same loader with its fast path switched off (the csv module
# over the whole text, as before the fast path existed); NumPy's genfromtxt, the reader a tutorial
# reaches for (floats only: the IDs become numbers, nothing is checked).
READERS = {
    "microgrid": ("", "load_wisconsin({path!r}, missing={missing!r})"),
    "csv module (microgrid's own fallback)": ("microgrid.data.fast.parse_fast = lambda *a, **k: None",
                                              "load_wisconsin({path!r}, missing={missing!r})"),
    "numpy.genfromtxt": ("", "np.genfromtxt({path!r}, delimiter=',', missing_values='?', "
                             "filling_values=np.nan)"),
}


def measure(path: Path, missing: str, trace: bool = False, reader: str = "microgrid"
            ) -> tuple[float, int, int, int, int]:
    """(seconds, resident bytes before the load, peak resident bytes during it, peak bytes traced by
    tracemalloc, bytes of the resulting arrays) of one load in a fresh process (Linux)."""
    setup, load = READERS[reader]
    code = _MEASURE.format(setup=setup, load=load.format(path=str(path), missing=missing), trace=trace)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    seconds, base, peak, traced, result = out.split()
    return float(seconds), int(base), int(peak), int(traced), int(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("uci", "csv"), default="uci")
    parser.add_argument("--missing", choices=("drop", "median", "keep"), default="drop")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one repeat")
    parser.add_argument("--baselines", action="store_true",
                        help="also time the csv module and (UCI format) numpy.genfromtxt on the same file")
    args = parser.parse_args()
    rows, repeat = (100_000, 1) if args.quick else (args.rows, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"big.{'csv' if args.format == 'csv' else 'data'}"
        size = write_big_file(path, rows, args.format)
        print(f"{rows:,} rows, {args.format} format, {size / 1e6:.1f} MB; missing={args.missing}", flush=True)
        results = [measure(path, args.missing) for _ in range(repeat)]
        traced = measure(path, args.missing, trace=True)
        readers = [r for r in list(READERS)[1:] if args.format == "uci" or "genfromtxt" not in r]
        baselines = {r: measure(path, args.missing, reader=r) for r in readers} if args.baselines else {}
    best = min(r[0] for r in results)
    extra = min(peak - base for _, base, peak, _, _ in results)
    traced, result = traced[3], traced[4]
    print(f"load: {best:.2f} s (best of {repeat})")
    print(f"peak resident memory {extra / 1e6:.0f} MB above the {results[0][1] / 1e6:.0f} MB before the "
          f"load = {extra / size:.2f} x the file; tracemalloc peak {traced / 1e6:.0f} MB = "
          f"{traced / size:.2f} x; the Dataset's arrays alone {result / 1e6:.0f} MB = {result / size:.2f} x")
    if baselines:
        print("baselines (one load each, in the same run):")
        for reader, (seconds, base, peak, _, _) in baselines.items():
            print(f"  {reader}: {seconds:.2f} s = {seconds / best:.1f} x microgrid; peak resident memory "
                  f"{(peak - base) / 1e6:.0f} MB = {(peak - base) / size:.2f} x the file")


if __name__ == "__main__":
    main()
