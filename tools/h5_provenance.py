"""The provenance block every saddlescope file opens with, written from Python.

Shared by tools/export_torch.py (checkpoints) and tools/convert_sklearn_data.py (data files), so the two
writers agree with each other and with the C++ writer (lib/io/provenance.h): root attributes format,
format_version, created_by, git_commit, command_line, created_at (UTC, ISO 8601) and seeds (JSON), the
strings UTF-8 variable-length.
"""
import datetime
import json
import os
import subprocess

import h5py
import numpy as np


def git_commit():
    """The commit of the checkout this file lives in, or "unknown" (no git, not a checkout)."""
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_string(obj, name, value):
    """A UTF-8 variable-length string attribute, as the C++ writer stores strings."""
    obj.attrs.create(name, value, dtype=h5py.string_dtype(encoding="utf-8"))


def write_provenance(f, file_format, created_by, command_line, seeds=None):
    """The root attributes of a `file_format` file (format_version 1) at the time of the call."""
    write_string(f, "format", file_format)
    f.attrs.create("format_version", 1, dtype=np.int64)
    write_string(f, "created_by", created_by)
    write_string(f, "git_commit", git_commit())
    write_string(f, "command_line", command_line)
    write_string(f, "created_at", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    write_string(f, "seeds", json.dumps(seeds or {}))
