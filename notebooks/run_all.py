#!/usr/bin/python3
"""Execute saddlescope's notebooks headless with nbclient (Debian's /usr/bin/python3).

    /usr/bin/python3 notebooks/run_all.py [--build BUILD] [--out DIR] [--figures DIR] [--timeout S] [NOTEBOOK ...]

Runs every notebooks/NN_*.ipynb (or the ones named) in a fresh kernel, in a scratch working folder,
and writes the executed copies to --out (default: <build>/notebooks), never into the source tree.
Exit 1 naming the notebook and the cell if any cell fails. The kernel is this interpreter
(a kernelspec named python3 is written to a temporary JUPYTER_PATH so no user or system kernelspec
can redirect it). SADDLESCOPE_BUILD is passed to the kernel so the notebooks find the tools.
Figures go to --figures (default: OUT/figures); `--figures notebooks/figures` regenerates the committed
pictures.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: all NN_*.ipynb)")
    ap.add_argument("--build", default=os.environ.get("SADDLESCOPE_BUILD", str(HERE.parent / "build")))
    ap.add_argument("--out", default=None, help="folder for the executed copies (default: BUILD/notebooks)")
    ap.add_argument("--figures", default=os.environ.get("SADDLESCOPE_FIGURES"),
                    help="folder for the PNG/PDF figures (default: OUT/figures; notebooks/figures "
                         "regenerates the committed pictures)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per cell")
    args = ap.parse_args()

    build = Path(args.build).resolve()
    out = Path(args.out).resolve() if args.out else build / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(p).resolve() for p in args.notebooks] or sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print("run_all.py: no notebooks found", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="saddlescope-jupyter-") as jupyter_dir:
        spec_dir = Path(jupyter_dir) / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (saddlescope notebooks)", "language": "python"}))
        os.environ["JUPYTER_PATH"] = jupyter_dir + os.pathsep + os.environ.get("JUPYTER_PATH", "")
        os.environ["SADDLESCOPE_BUILD"] = str(build)
        os.environ["SADDLESCOPE_FIGURES"] = str(Path(args.figures).resolve() if args.figures else out / "figures")
        os.environ["MPLBACKEND"] = "Agg"
        os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        os.environ["PYTHONPATH"] = str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", "")
        failed = 0
        total = time.monotonic()
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            start = time.monotonic()
            with tempfile.TemporaryDirectory(prefix="saddlescope-nb-") as work:
                client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                        resources={"metadata": {"path": work}})
                try:
                    client.execute()
                    status = "ok"
                except CellExecutionError as e:
                    failed += 1
                    status = "FAILED"
                    print(f"run_all.py: {path.name}: a cell failed:\n{e}", file=sys.stderr)
                except Exception as e:  # kernel died, timeout, ...
                    failed += 1
                    status = "FAILED"
                    print(f"run_all.py: {path.name}: {type(e).__name__}: {e}", file=sys.stderr)
            nbformat.write(nb, out / path.name)
            print(f"{path.name:40s} {status:6s} {time.monotonic() - start:6.1f} s", flush=True)
        print(f"{'total':40s} {'':6s} {time.monotonic() - total:6.1f} s; executed copies in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
