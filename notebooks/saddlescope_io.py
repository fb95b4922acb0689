"""Read saddlescope's HDF5 files into numpy / pandas, and run saddlescope's tools.

One call per file kind (run with Debian's /usr/bin/python3: h5py, numpy, pandas):

    read_checkpoint(path)  -> Checkpoint   (format saddlescope-checkpoint)
    read_run_log(path)     -> RunLog       (format saddlescope-run; opened with swmr=True so a growing
                                            or killed log opens)
    open_run_log(path)     -> h5py.File    (the run log itself, opened the same way, tables refreshed;
                                            a plain h5py.File(path, "r") refuses a killed run's log:
                                            docs/optim.md, "Reading")
    read_histograms(path)  -> Histograms   (a run log's per-layer histograms, run-optimizer
                                            --histogram-every; .mesh(quantity, block) is one pcolormesh)
    read_result(path)      -> Result       (format saddlescope-result: classify-critical,
                                            hessian-spectrum, rmt-check, find-critical, ...)
    provenance(path)       -> dict         (root attributes: command_line, git_commit, created_by,
                                            created_at, seeds, format, format_version)

Each reader checks the root attributes `format` and `format_version` and raises FormatError naming the
file, what it found and what it expected.

    tool(name)             -> path of an executable: $SADDLESCOPE_BUILD/bin/<name> (default build folder
                              <repo>/build, the one `bash tools/dev.sh` builds into), else
                              $SADDLESCOPE_BUILD/<name>, else PATH
    run(name, *args)       -> the tool's --json output parsed (dict); raises ToolError with the tool's
                              stderr on a non-zero exit
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent

# The file kinds and the format versions this module understands (docs: /work/shared/DESIGN.md).
KNOWN_VERSIONS = {
    "saddlescope-checkpoint": {1},
    "saddlescope-run": {1},
    "saddlescope-result": {1},
    "saddlescope-data": {1},
}

PROVENANCE_KEYS = ("format", "format_version", "created_by", "created_at", "git_commit", "command_line", "seeds")


class FormatError(ValueError):
    """A file is not the saddlescope file kind (or version) a reader expected."""


class ToolError(RuntimeError):
    """A saddlescope tool exited with a non-zero code."""

    def __init__(self, command: list[str], returncode: int, stderr: str):
        self.command, self.returncode, self.stderr = command, returncode, stderr
        super().__init__(f"{' '.join(command)} exited with {returncode}: {stderr.strip()}")


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _maybe_json(value: Any) -> Any:
    """Structured settings are stored as JSON string attributes: decode those, leave other strings."""
    value = _text(value)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    return {k: _maybe_json(v) for k, v in obj.attrs.items()}


def _check_format(f: h5py.File, path: str | os.PathLike, expected: str) -> int:
    fmt = _text(f.attrs.get("format"))
    version = _text(f.attrs.get("format_version"))
    if fmt is None:
        raise FormatError(f"{path}: no root attribute 'format'; not a saddlescope file (expected {expected})")
    if fmt != expected:
        raise FormatError(f"{path}: format is '{fmt}', expected '{expected}'")
    known = KNOWN_VERSIONS[expected]
    if version is None or int(version) not in known:
        raise FormatError(f"{path}: {fmt} format_version {version} is not one this reader knows "
                          f"({', '.join(map(str, sorted(known)))})")
    return int(version)


def provenance(path: str | os.PathLike) -> dict[str, Any]:
    """Root attributes of any saddlescope file: how it was made (seeds decoded from JSON)."""
    with h5py.File(path, "r", swmr=True) as f:
        if "format" not in f.attrs:
            raise FormatError(f"{path}: no root attribute 'format'; not a saddlescope file")
        out = {k: _maybe_json(f.attrs[k]) for k in PROVENANCE_KEYS if k in f.attrs}
    return out


# Largest dataset a reader loads, in bytes: the C++ readers' limit (io/checkpoint.h, 2^28 float64).
MAX_DATASET_BYTES = 8 * 2**28
# Deflate cannot expand its input more than 1032:1; a filtered dataset claiming more is not real data
# (the C++ readers' io::h5::kMaxCompressionRatio).
MAX_COMPRESSION_RATIO = 1100.0


def _checked_read(ds: h5py.Dataset, path: str | os.PathLike) -> Any:
    """ds[()] after checking its declared size against the limit and against the bytes the file stores
    for it, so a small file declaring terabytes raises FormatError naming the file and the dataset,
    not numpy's MemoryError ("Unable to allocate 8.00 TiB") or minutes of reading fill values."""
    declared = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize) if ds.shape is not None else 0
    if declared > MAX_DATASET_BYTES:
        raise FormatError(f"{path}: dataset '{ds.name}' declares shape {ds.shape} of {ds.dtype} ({declared} bytes), "
                          f"more than the {MAX_DATASET_BYTES} bytes a reader accepts")
    if declared > 0 and not ds.is_virtual:
        stored = ds.id.get_storage_size()
        filtered = ds.id.get_create_plist().get_nfilters() > 0
        can_hold = stored * MAX_COMPRESSION_RATIO if filtered else stored
        if can_hold < declared:
            raise FormatError(f"{path}: dataset '{ds.name}' declares {declared} bytes but the file stores only "
                              f"{stored} bytes of it; refused before reading")
    return ds[()]


def _refuse_outside_references(f: h5py.File, path: str | os.PathLike, allow_virtual: bool = False) -> None:
    """An untrusted file is data, never a key to the disk (issue #17, item 7): refuse external links,
    external storage and (unless `allow_virtual`, for a run log read as one) virtual datasets anywhere
    in the file, before anything is read — h5py would follow them to any file the user can read. Soft
    links are walked past, not followed: with no external link in the file they stay inside it."""
    def walk(group: h5py.Group) -> None:
        for name in group:
            link = group.get(name, getlink=True)
            where = f"{group.name.rstrip('/')}/{name}"
            if isinstance(link, h5py.ExternalLink):
                raise FormatError(f"{path}: '{where}' is an external link to {link.filename}:{link.path}; "
                                  "refused (an untrusted file must not read other files)")
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            if isinstance(obj, h5py.Group):
                walk(obj)
            elif isinstance(obj, h5py.Dataset):
                if obj.id.get_create_plist().get_external_count() > 0:
                    raise FormatError(f"{path}: dataset '{where}' keeps its data in external files; refused")
                if obj.is_virtual and not allow_virtual:
                    raise FormatError(f"{path}: dataset '{where}' is a virtual dataset; refused")
    walk(f)


def _read_group(group: h5py.Group, path: str | os.PathLike = "") -> dict[str, np.ndarray]:
    """Every dataset below a group, by relative path, as numpy arrays (strings decoded); sizes checked
    before reading (_checked_read)."""
    out: dict[str, np.ndarray] = {}
    path = path or group.file.filename

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            data = _checked_read(obj, path)
            if obj.dtype.kind == "S":
                data = np.array([_text(x).rstrip("\x00") for x in np.atleast_1d(data)], dtype=object)
            elif obj.dtype.kind == "O":
                data = np.array([_text(x) for x in np.atleast_1d(data)], dtype=object)
            out[name] = data

    group.visititems(visit)
    return out


@dataclass
class Checkpoint:
    path: str
    params: np.ndarray
    objective_spec: Any
    provenance: dict[str, Any]
    data: dict[str, np.ndarray] = field(default_factory=dict)       # /data arrays (embedded data only)
    data_attrs: dict[str, Any] = field(default_factory=dict)        # /data attributes (data_file, data_group)
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)
    optimizer_attrs: dict[str, Any] = field(default_factory=dict)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    with h5py.File(path, "r") as f:
        _check_format(f, path, "saddlescope-checkpoint")
        _refuse_outside_references(f, path)
        return Checkpoint(
            path=str(path),
            params=np.asarray(_checked_read(f["params"], path), dtype=np.float64),
            objective_spec=_maybe_json(f["objective"].attrs.get("spec")) if "objective" in f else None,
            provenance={k: _maybe_json(f.attrs[k]) for k in PROVENANCE_KEYS if k in f.attrs},
            data=_read_group(f["data"], path) if "data" in f else {},
            data_attrs=_attrs(f["data"]) if "data" in f else {},
            optimizer_state=_read_group(f["optimizer_state"], path) if "optimizer_state" in f else {},
            optimizer_attrs=_attrs(f["optimizer_state"]) if "optimizer_state" in f else {},
        )


@dataclass
class RunLog:
    path: str
    status: str
    config: dict[str, Any]
    steps: pd.DataFrame                    # one row per step: step, loss, grad_norm, lr, ...
    layer_grad_norm: pd.DataFrame          # [T, L], columns = parameter block names
    trajectory_step: np.ndarray
    trajectory: np.ndarray                 # [K, n] parameters every --trajectory-every steps
    curvature: pd.DataFrame                # step, lambda_min, lambda_max, hvp_count
    events: pd.DataFrame                   # step, kind, detail
    provenance: dict[str, Any]


def open_run_log(path: str | os.PathLike) -> h5py.File:
    """The run log as an h5py.File in SWMR-read mode, format checked, tables refreshed.

    SWMR read is what opens a log whose writer was killed: HDF5 1.10 refuses a plain read-only open
    of a SWMR file whose "open for write" superblock flags are still set (docs/optim.md, "Reading").
    It opens finished logs too. Call f["_tables/steps"].refresh() to see rows flushed since.
    """
    f = h5py.File(path, "r", swmr=True)
    try:
        _check_format(f, path, "saddlescope-run")
        for table in ("steps", "trajectory", "curvature", "histograms"):
            if f"_tables/{table}" in f:
                f[f"_tables/{table}"].refresh()
    except BaseException:
        f.close()
        raise
    return f


def read_run_log(path: str | os.PathLike) -> RunLog:
    """A run log, also one still being written or left by a killed run (opened with swmr=True)."""
    with open_run_log(path) as f:
        _refuse_outside_references(f, path, allow_virtual=True)
        steps = f["steps"]
        df = pd.DataFrame({k: steps[k][()] for k in steps if steps[k].ndim == 1})
        if "step" in df:
            df = df.set_index("step", drop=False)
        layer = pd.DataFrame()
        if "layer_grad_norm" in steps:
            arr = steps["layer_grad_norm"][()]
            cols = _maybe_json(steps["layer_grad_norm"].attrs.get("columns", "[]")) or list(range(arr.shape[1]))
            layer = pd.DataFrame(arr, columns=cols, index=df.index if len(df) == len(arr) else None)
        traj_step = f["trajectory/step"][()] if "trajectory/step" in f else np.zeros(0, dtype=np.int64)
        traj = f["trajectory/params"][()] if "trajectory/params" in f else np.zeros((0, 0))
        curv = pd.DataFrame({k: f["curvature"][k][()] for k in f["curvature"]}) if "curvature" in f else pd.DataFrame()
        ev = pd.DataFrame({k: v for k, v in _read_group(f["events"]).items()}) if "events" in f else pd.DataFrame()
        return RunLog(path=str(path), status=_text(f.attrs.get("status", "")),
                      config=_attrs(f["config"]) if "config" in f else {}, steps=df, layer_grad_norm=layer,
                      trajectory_step=traj_step, trajectory=traj, curvature=curv, events=ev,
                      provenance={k: _maybe_json(f.attrs[k]) for k in PROVENANCE_KEYS if k in f.attrs})


@dataclass
class Histograms:
    """Per-layer histograms of a run log (docs/architectures.md, "Histograms in the run log")."""
    path: str
    step: np.ndarray                       # [H] the steps of the rows
    blocks: list[str]                      # L parameter block names
    bins: int                              # B
    edges: dict[str, np.ndarray]           # quantity -> [L, B + 1], fixed for the run
    counts: dict[str, np.ndarray]          # quantity -> [H, L, B], bin i: edges[l, i] <= v < edges[l, i + 1]
    underflow: dict[str, np.ndarray]       # quantity -> [H, L], values below edges[l, 0]
    overflow: dict[str, np.ndarray]        # quantity -> [H, L], values above edges[l, B], or NaN

    def mesh(self, quantity: str, block: str | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X, Y, C) for plt.pcolormesh(X, Y, C): X the H + 1 step boundaries (row h covers
        [step[h], step[h + 1])), Y the block's B + 1 edges, C the [B, H] counts."""
        index = self.blocks.index(block) if isinstance(block, str) else int(block)
        step = self.step.astype(float)
        last = step[-1] + (step[-1] - step[-2] if len(step) > 1 else 1.0) if len(step) else 0.0
        return np.append(step, last), self.edges[quantity][index], self.counts[quantity][:, index, :].T


def read_histograms(path: str | os.PathLike) -> Histograms:
    """The /histograms of a run log (also a growing or killed one); FormatError when it has none.
    Rows are those whose step is on disk (the step column is written last)."""
    with open_run_log(path) as f:
        _refuse_outside_references(f, path, allow_virtual=True)
        if "histograms" not in f:
            raise FormatError(f"{path}: no /histograms (run-optimizer --histogram-every K writes them)")
        g = f["histograms"]
        blocks = list(_maybe_json(g.attrs["blocks"]))
        bins = int(g.attrs["bins"])
        quantities = list(_maybe_json(g.attrs["quantities"]))
        step = g["step"][()]
        rows = len(step)
        edges, counts, underflow, overflow = {}, {}, {}, {}
        for q in quantities:
            edges[q] = g[q]["edges"][()]
            counts[q] = g[q]["counts"][:rows].reshape(rows, len(blocks), bins)
            underflow[q] = g[q]["underflow"][:rows]
            overflow[q] = g[q]["overflow"][:rows]
        return Histograms(path=str(path), step=step, blocks=blocks, bins=bins, edges=edges, counts=counts,
                          underflow=underflow, overflow=overflow)


@dataclass
class Result:
    path: str
    analysis: str                          # the tool that wrote it: classify-critical, hessian-spectrum, ...
    summary: dict[str, Any]                # the root attribute `summary` (the tool's --json object)
    attrs: dict[str, Any]                  # all root attributes, JSON ones decoded
    datasets: dict[str, np.ndarray]        # every dataset by path, e.g. "spectrum/eigenvalues"
    groups: dict[str, dict[str, Any]]      # attributes of every group by path, e.g. "k_3"
    provenance: dict[str, Any]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.datasets[key]

    def __contains__(self, key: str) -> bool:
        return key in self.datasets


def read_result(path: str | os.PathLike, analysis: str | None = None) -> Result:
    """A result file (classify-critical, hessian-spectrum, rmt-check, find-critical, ...).
    With `analysis`, also refuse a result written by another tool."""
    with h5py.File(path, "r") as f:
        _check_format(f, path, "saddlescope-result")
        _refuse_outside_references(f, path)
        attrs = _attrs(f)
        found = attrs.get("analysis", "")
        if analysis is not None and found != analysis:
            raise FormatError(f"{path}: a '{found}' result, expected a '{analysis}' result")
        groups: dict[str, dict[str, Any]] = {}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Group):
                groups[name] = _attrs(obj)

        f.visititems(visit)
        summary = attrs.get("summary", {})
        return Result(path=str(path), analysis=found, summary=summary if isinstance(summary, dict) else {},
                      attrs=attrs, datasets=_read_group(f, path), groups=groups,
                      provenance={k: attrs[k] for k in PROVENANCE_KEYS if k in attrs})


def build_dir() -> Path:
    return Path(os.environ.get("SADDLESCOPE_BUILD", REPO / "build")).resolve()


def tool(name: str) -> str:
    """Path of a saddlescope executable: the build folder first ($SADDLESCOPE_BUILD, default <repo>/build;
    tools land in its bin/), then PATH."""
    build = build_dir()
    for candidate in (build / "bin" / name, build / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"saddlescope tool '{name}' not found in {build}/bin, {build} or on PATH; "
                            f"build with `bash tools/dev.sh test` or set SADDLESCOPE_BUILD")


def run(name: str, *args: Any, json_output: bool = True, timeout: float = 300) -> Any:
    """Run a tool with --json and return its parsed JSON object; ToolError (with stderr) on failure."""
    command = [tool(name)] + [str(a) for a in args]
    if json_output and "--json" not in command:
        command.append("--json")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise ToolError(command, proc.returncode, proc.stderr)
    return json.loads(proc.stdout) if json_output else proc.stdout


def save_figure(fig: Any, name: str, folder: str | os.PathLike | None = None, dpi: int = 110) -> list[str]:
    """Save a matplotlib figure as PNG and PDF under $SADDLESCOPE_FIGURES (default notebooks/figures, or
    `folder`). The PNG is reduced to a 256-colour palette so that committed pictures stay small."""
    import io as _io
    from PIL import Image
    out = Path(folder) if folder is not None else Path(os.environ.get("SADDLESCOPE_FIGURES", REPO / "notebooks" / "figures"))
    out.mkdir(parents=True, exist_ok=True)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    buf.seek(0)
    png = out / f"{name}.png"
    Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    pdf = out / f"{name}.pdf"
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
    return [str(png), str(pdf)]


# ---------------------------------------------------------------------------------------------------------
# Data sets and timing for the experiment notebooks (issue #16: notebooks 09, 10, 12). A separate block so
# that other readers added at the same time merge beside it.

def read_data(path: str | os.PathLike, group: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of one group of a saddlescope data file (format 'saddlescope-data', e.g. the bundled
    data/datasets/digits.h5, group 'digits'): X float64 [N, *sample_shape] — each sample in its own
    shape when the group has `sample_shape` (digits: [1797, 1, 8, 8], pixel counts 0..16), else [N, d] —
    and y float64 [N] for one target column (class indices), [N, k] otherwise."""
    with h5py.File(path, "r") as f:
        _check_format(f, path, "saddlescope-data")
        _refuse_outside_references(f, path)
        if group not in f or not isinstance(f[group], h5py.Group):
            raise FormatError(f"{path}: no data group '{group}' (groups: {', '.join(sorted(f))})")
        g = f[group]
        for name in ("X", "y"):
            if name not in g:
                raise FormatError(f"{path}: group '{group}' has no dataset '{name}'")
        X = np.asarray(_checked_read(g["X"], path), dtype=np.float64)
        y = np.asarray(_checked_read(g["y"], path), dtype=np.float64)
        shape = [int(s) for s in _checked_read(g["sample_shape"], path)] if "sample_shape" in g else None
    if X.ndim != 2 or y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise FormatError(f"{path}: '{group}' has X {list(X.shape)} and y {list(y.shape)}; expected X [N, d] "
                          "and y with N rows")
    if shape is not None:
        if int(np.prod(shape)) != X.shape[1]:
            raise FormatError(f"{path}: '{group}/sample_shape' {shape} does not hold the {X.shape[1]} values of a sample")
        X = X.reshape([X.shape[0]] + shape)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    return X, y


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of every child it has waited for — the tools `run`
    started — so a notebook can state what it cost independently of the machine's load."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
