#!/usr/bin/python3
"""Checks of notebooks/saddlescope_io.py against files the real tools write (run by
tests/notebooks/notebooks_test.cpp; usage: test_saddlescope_io.py BUILD_DIR). Exit 0 when all pass."""

import shutil
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import os
if len(sys.argv) > 1:
    os.environ["SADDLESCOPE_BUILD"] = sys.argv[1]
import saddlescope_io as sio

REPO = Path(__file__).resolve().parent.parent


def expect_raises(exc, fn, *args, contains=""):
    try:
        fn(*args)
    except exc as e:
        assert contains in str(e), f"{exc.__name__} message {str(e)!r} lacks {contains!r}"
        return
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc.__name__}")


def check_histograms_against_numpy(hist, params: np.ndarray, row: int) -> None:
    """Row `row` of the weights histograms against numpy.histogram of the checkpointed parameters of the
    same step (an independent count; numpy's bins are [e_i, e_{i+1}), the last closed, the rule the run
    log states), and counts + underflow + overflow = each block's size. Blocks are contiguous in order."""
    offset = 0
    for l, name in enumerate(hist.blocks):
        size = int(hist.counts["weights"][row, l].sum() + hist.underflow["weights"][row, l]
                   + hist.overflow["weights"][row, l])
        values = params[offset:offset + size]
        edges = hist.edges["weights"][l]
        expected, _ = np.histogram(values, bins=edges)
        assert np.array_equal(hist.counts["weights"][row, l], expected), (name, hist.counts["weights"][row, l], expected)
        assert hist.underflow["weights"][row, l] == np.sum(values < edges[0])
        assert hist.overflow["weights"][row, l] == np.sum(values > edges[-1])
        for q in ("gradients", "updates"):  # nothing dropped in any quantity
            assert hist.counts[q][row, l].sum() + hist.underflow[q][row, l] + hist.overflow[q][row, l] == size
        offset += size
    assert offset == len(params), (offset, len(params))


def check_histograms(d: Path) -> None:
    """read_histograms on an MLP run and on a graph model (a CNN with batch norm, exported from torch)."""
    mlp = REPO / "data" / "examples" / "iris_mlp_minimum.h5"
    sio.run("run-optimizer", mlp, "--optimizer", "sgd", "--lr", 0.5, "--momentum", 0.9, "--steps", 4,
            "--histogram-every", 2, "--histogram-bins", 10, "--checkpoint-every", 2,
            "--log", d / "hist.h5", "--out", d / "hist_end.h5")
    hist = sio.read_histograms(d / "hist.h5")
    assert list(hist.step) == [0, 2] and hist.bins == 10
    assert hist.blocks == ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias"], hist.blocks
    assert hist.counts["updates"].shape == (2, 4, 10) and hist.edges["gradients"].shape == (4, 11)
    check_histograms_against_numpy(hist, sio.read_checkpoint(mlp).params, 0)
    check_histograms_against_numpy(hist, sio.read_checkpoint(d / "hist_end.step2.h5").params, 1)
    X, Y, C = hist.mesh("weights", "layer2.weight")  # one pcolormesh per layer
    assert X.shape == (3,) and Y.shape == (11,) and C.shape == (10, 2)
    expect_raises(sio.FormatError, sio.read_histograms, d / "run.h5", contains="no /histograms")

    # A graph model: blocks are the ONNX initializers (torch's parameter names).
    import torch
    sys.path.insert(0, str(REPO / "tools"))
    import export_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Tanh(),
                              torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3)).double().train()
    X_data = torch.randn(12, 1, 6, 6, dtype=torch.float64)
    y_data = torch.arange(12) % 3
    export_torch.export_checkpoint(net, X_data, y_data, "cross_entropy", str(d / "cnn.h5"))
    sio.run("run-optimizer", d / "cnn.h5", "--optimizer", "sgd", "--lr", 0.1, "--steps", 3, "--histogram-every", 2,
            "--checkpoint-every", 2, "--log", d / "cnn_log.h5", "--out", d / "cnn_end.h5")
    hist = sio.read_histograms(d / "cnn_log.h5")
    assert hist.blocks == [name for name, _ in net.named_parameters()], hist.blocks
    assert list(hist.step) == [0, 2]
    check_histograms_against_numpy(hist, sio.read_checkpoint(d / "cnn.h5").params, 0)
    check_histograms_against_numpy(hist, sio.read_checkpoint(d / "cnn_end.step2.h5").params, 1)


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        # A run log with trajectory and curvature, and its final checkpoint.
        out = sio.run("run-optimizer", "--problem", "saddle", "--x0", "1,0.01", "--optimizer", "gd", "--lr", 0.1,
                      "--steps", 30, "--trajectory-every", 1, "--curvature-every", 10,
                      "--log", d / "run.h5", "--out", d / "end.h5")
        log = sio.read_run_log(d / "run.h5")
        ck = sio.read_checkpoint(d / "end.h5")
        assert log.status == "finished" and len(log.steps) == 30 == out["steps_taken"]
        # The run log's status is a 16-byte fixed-length string (docs/architecture.md), which h5py returns as
        # bytes; the reader gives it as str like every other string.
        assert type(log.status) is str, type(log.status)
        assert list(log.steps["step"]) == list(range(30))
        # Cross-check between files: the checkpoint's point is the trajectory's last row and the JSON's.
        assert np.array_equal(ck.params, log.trajectory[-1]) and np.allclose(ck.params, out["final_point"], rtol=0, atol=0)
        # GD on x^2 - y^2: x_{t+1} = (1 - 2 lr) x_t exactly, so the logged trajectory follows it (rounding only).
        t = np.arange(len(log.trajectory))
        assert np.allclose(log.trajectory[:, 0], 0.8 ** t, rtol=1e-13, atol=0)
        # The Hessian of x^2 - y^2 is diag(2, -2): the curvature probes say so.
        assert np.allclose(log.curvature["lambda_min"], -2, atol=1e-10) and np.allclose(log.curvature["lambda_max"], 2, atol=1e-10)
        assert log.config["optimizer"] == "gd" and log.provenance["format"] == "saddlescope-run"
        assert "run-optimizer" in log.provenance["command_line"] and log.provenance["seeds"] == {"seed": 0}

        check_histograms(d)

        # A result file, and the same numbers in its --json object.
        j = sio.run("classify-critical", "--problem", "saddle", "--at", "0,0", "--out", d / "c.h5")
        r = sio.read_result(d / "c.h5", analysis="classify-critical")
        assert r.summary["verdict"] == j["verdict"] == "strict_saddle"
        assert np.array_equal(np.sort(r["classification/eigenvalues"]), [-2.0, 2.0])
        assert sio.provenance(d / "c.h5")["created_by"].startswith("classify-critical")

        # Refusals: wrong kind, wrong tool, unknown version, not a saddlescope file.
        expect_raises(sio.FormatError, sio.read_result, d / "run.h5", contains="expected 'saddlescope-result'")
        expect_raises(sio.FormatError, sio.read_run_log, d / "end.h5", contains="expected 'saddlescope-run'")
        expect_raises(sio.FormatError, lambda p: sio.read_result(p, analysis="rmt-check"), d / "c.h5", contains="rmt-check")
        shutil.copy(d / "c.h5", d / "v99.h5")
        with h5py.File(d / "v99.h5", "r+") as f:
            f.attrs["format_version"] = 99
        expect_raises(sio.FormatError, sio.read_result, d / "v99.h5", contains="format_version 99")
        with h5py.File(d / "plain.h5", "w") as f:
            f["x"] = np.zeros(3)
        expect_raises(sio.FormatError, sio.read_checkpoint, d / "plain.h5", contains="no root attribute 'format'")

        # Regression (issue #17, item 20): a small file declaring a huge dataset raised numpy's MemoryError
        # ("Unable to allocate 8.00 TiB") or read fill values for minutes; now a FormatError naming the
        # file and the dataset, before anything is read. 2^40 float64 over the limit; 2^27 float64
        # (1 GiB, under the limit) in chunks never written (stores 0 bytes); the same behind gzip.
        for name, shape, kwargs, reason in (("huge", (2**40,), {}, "more than"),
                                            ("unwritten", (2**27,), {}, "stores only 0 bytes"),
                                            ("bomb", (2**27,), {"compression": "gzip"}, "stores only 0 bytes")):
            shutil.copy(d / "end.h5", d / f"{name}.h5")
            with h5py.File(d / f"{name}.h5", "r+") as f:
                del f["params"]
                f.create_dataset("params", shape=shape, dtype="f8", chunks=(2**16,), **kwargs)
            expect_raises(sio.FormatError, sio.read_checkpoint, d / f"{name}.h5", contains=f"{name}.h5: dataset '/params'")
            expect_raises(sio.FormatError, sio.read_checkpoint, d / f"{name}.h5", contains=reason)
            shutil.copy(d / "c.h5", d / f"{name}_result.h5")
            with h5py.File(d / f"{name}_result.h5", "r+") as f:
                f.create_dataset("extra", shape=shape, dtype="f8", chunks=(2**16,), **kwargs)
            expect_raises(sio.FormatError, sio.read_result, d / f"{name}_result.h5", contains="dataset '/extra'")

        # Regression (issue #17, item 7, the notebook reader): a checkpoint whose /params is an external link
        # to another file, or whose data lives in external storage, was read through (h5py follows
        # both); now refused naming the object, before anything is read.
        with h5py.File(d / "secret.h5", "w") as f:
            f["values"] = np.arange(3.0)
        shutil.copy(d / "end.h5", d / "extlink.h5")
        with h5py.File(d / "extlink.h5", "r+") as f:
            del f["params"]
            f["params"] = h5py.ExternalLink(str(d / "secret.h5"), "/values")
        expect_raises(sio.FormatError, sio.read_checkpoint, d / "extlink.h5", contains="'/params' is an external link")
        (d / "raw.bin").write_bytes(np.arange(3.0).tobytes())
        shutil.copy(d / "c.h5", d / "extstore_result.h5")
        with h5py.File(d / "extstore_result.h5", "r+") as f:
            f.create_dataset("extra", shape=(3,), dtype="f8", external=[(str(d / "raw.bin"), 0, 24)])
        expect_raises(sio.FormatError, sio.read_result, d / "extstore_result.h5", contains="external files")

        # The bundled digits as images: the flat rows reshaped by sample_shape, labels as a vector; the file's
        # own checksum-bearing source (data/datasets/digits.h5) is read directly for the comparison.
        X, y = sio.read_data(sio.REPO / "data" / "datasets" / "digits.h5", "digits")
        with h5py.File(sio.REPO / "data" / "datasets" / "digits.h5", "r") as f:
            flat, labels = f["digits/X"][()], f["digits/y"][()]
        assert X.shape == (1797, 1, 8, 8) and y.shape == (1797,)
        assert np.array_equal(X.reshape(1797, 64), flat) and np.array_equal(y, labels[:, 0])
        assert set(np.unique(y)) == set(range(10))
        expect_raises(sio.FormatError, sio.read_data, d / "end.h5", "digits", contains="expected 'saddlescope-data'")
        expect_raises(sio.FormatError, sio.read_data, sio.REPO / "data" / "datasets" / "digits.h5", "iris",
                      contains="no data group 'iris'")
        before = sio.cpu_seconds()
        sio.run("run-optimizer", "--problem", "saddle", "--x0", "1,0.01", "--steps", 5)
        assert sio.cpu_seconds() >= before

        # A tool's failure surfaces with its stderr line.
        expect_raises(sio.ToolError, sio.run, "classify-critical", "--problem", "no_such_function", "--at", "0",
                      contains="no_such_function")
        expect_raises(FileNotFoundError, sio.tool, "no-such-tool-here")
    print("test_saddlescope_io: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
