"""slsim from Python: run an experiment or a sweep and get its results as a dict and pandas DataFrames.

    import slsim
    r = slsim.run("results/demo/experiment.json", set={"policies.keepalive.params.ttl_s": 60}, seed=2)
    r.summary["ttft_s"]["p99"]          # summary.json as a dict
    r.requests.groupby("model").ttft_s.quantile(0.99)   # requests.csv as a DataFrame
    table = slsim.sweep("results/demo/experiment.json", grid={"policies.keepalive.params.ttl_s": [0, 60, 600]})

The simulator is the CLI's (`slsim run`, `slsim sweep`): the same config, the same outputs, byte for byte,
and the same error messages. A run writes its files into `output` (by default a temporary folder, removed
once they are read back) and this module reads them back with pandas. docs/python.md has a worked example.
"""
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas

from . import _slsim
from ._slsim import InputError, InvariantViolation

__all__ = ["run", "sweep", "validate", "load", "Result", "InputError", "InvariantViolation", "SweepError",
           "version"]

# Installed (cmake --install), this package sits in <prefix>/lib/python3/dist-packages/slsim and the
# catalogue in <prefix>/share/slsim/models; python3, not slsim, is then the running binary, so the
# catalogue is named through the variable the simulator reads. A build tree's module reads its source
# tree's catalogue, as the CLI does.
_INSTALLED_CATALOG = Path(os.path.normpath(Path(__file__).resolve().parent / "../../../../share/slsim/models"))
if _INSTALLED_CATALOG.is_dir() and not os.environ.get("SLSIM_CATALOG_DIR"):
    os.environ["SLSIM_CATALOG_DIR"] = str(_INSTALLED_CATALOG)


class SweepError(RuntimeError):
    """Some points of a sweep failed; `table` is sweep.csv with their `error` column (the others are kept
    in the output folder, and a rerun with the same output redoes only the failed ones)."""

    def __init__(self, message, table):
        super().__init__(message)
        self.table = table


@dataclass
class Result:
    """One run's outputs: `summary` (summary.json) and `config` (the resolved config.json) as dicts,
    `requests` (requests.csv) and `timeseries` (timeseries.csv) as DataFrames, None where the config
    turned the file off; `output` is the folder holding them, None when it was temporary."""
    summary: dict
    config: dict
    requests: Optional[pandas.DataFrame]
    timeseries: Optional[pandas.DataFrame]
    output: Optional[Path]


def version():
    """The slsim the module was built from (`slsim --version`)."""
    return _slsim.version()


def _override_text(value):
    """A --set value: a str as on the command line (JSON if it parses, else the string), anything else as
    JSON (True -> true, [1, 2] -> [1,2], None -> null)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def _overrides(set, seed):
    overrides = [f"{key}={_override_text(value)}" for key, value in (set or {}).items()]
    if seed is not None:
        overrides.append(f"seed={int(seed)}")
    return overrides


def _config_source(config, base_dir):
    """(path, document text, base folder) for _slsim: a path is read as the CLI reads it (relative paths
    in it from its folder); a dict's relative paths are taken from `base_dir`, by default the working
    folder."""
    base = str(base_dir if base_dir is not None else Path.cwd())
    if isinstance(config, dict):
        return None, json.dumps(config, allow_nan=False), base
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config), None, base
    raise TypeError(f"config: expected a path or a dict, got {type(config).__name__}")


def _warn(messages):
    for message in messages:
        warnings.warn(message, stacklevel=3)


def load(folder):
    """A finished run's folder (slsim run -o FOLDER, a sweep's point) as a Result."""
    folder = Path(folder)
    if not (folder / "summary.json").is_file():
        raise InputError(f"{folder}: no summary.json (not a finished run)")

    def table(name):
        path = folder / name
        return pandas.read_csv(path) if path.is_file() else None

    return Result(summary=json.loads((folder / "summary.json").read_text()),
                  config=json.loads((folder / "config.json").read_text()),
                  requests=table("requests.csv"), timeseries=table("timeseries.csv"), output=folder)


def run(config, set=None, output=None, seed=None, base_dir=None):
    """Runs one experiment, as `slsim run CONFIG -o OUTPUT --set k=v...`.

    config: a config file's path, or a config as a dict. set: {"a.b.c": value} overrides (a str is read
    as on the command line, other values as JSON). seed: overrides the config's seed. output: the folder
    to write the results into (replaced, as by the CLI); None writes them into a temporary folder that
    is removed once read back (Result.output is then None). base_dir: where a dict config's relative
    paths start (default: the working folder). Raises InputError (a ValueError) for bad input, with the
    CLI's message; warnings about the config are issued as Python warnings."""
    path, document, base = _config_source(config, base_dir)
    overrides = _overrides(set, seed)
    if output is not None:
        _, messages = _slsim.run(path, document, base, overrides, os.fspath(output))
        _warn(messages)
        return load(output)
    with tempfile.TemporaryDirectory(prefix="slsim-run-") as folder:
        _, messages = _slsim.run(path, document, base, overrides, os.path.join(folder, "run"))
        _warn(messages)
        result = load(os.path.join(folder, "run"))
    result.output = None
    return result


def validate(config, set=None, seed=None, base_dir=None):
    """The resolved config as a dict (`slsim validate --print`), or InputError."""
    path, document, base = _config_source(config, base_dir)
    text, messages = _slsim.validate(path, document, base, _overrides(set, seed))
    _warn(messages)
    return json.loads(text)


def _axes(grid, zip):
    """[(keys, values per key)] as _slsim takes them: each grid key its own axis, in order, then each zip
    (a dict of keys whose lists vary together)."""
    axes = [([key], [[_override_text(v) for v in values]]) for key, values in (grid or {}).items()]
    for group in ([zip] if isinstance(zip, dict) else zip or []):
        lengths = {key: len(values) for key, values in group.items()}
        if len(set(lengths.values())) > 1:
            raise InputError(f"zip: every key needs the same number of values, got {lengths}")
        axes.append((list(group), [[_override_text(v) for v in values] for values in group.values()]))
    return axes


def sweep(config, grid=None, zip=None, set=None, seed=None, output=None, jobs=None, base_dir=None):
    """Runs every point of a grid, as `slsim sweep CONFIG --grid ... --zip ... -o OUTPUT -j JOBS`, and
    returns sweep.csv as a DataFrame (one row per point: `point`, the parameters, the flattened summary).

    grid: {"a.b": [v1, v2], ...}, one axis per key, the cross product run (the first key varies
    slowest). zip: {"k1": [a, b], "k2": [c, d]} (or a list of such dicts), keys that vary together.
    output: the sweep folder (each point in output/<point>/, resumable: finished points are read, not
    rerun; slsim.load(output / point) gives one as a Result); None: a temporary folder, removed after.
    jobs: points run at once (default: every core). Raises SweepError (with `.table`) when points
    failed."""
    path, document, base = _config_source(config, base_dir)
    axes = _axes(grid, zip)
    overrides = _overrides(set, seed)
    jobs = jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="slsim-sweep-") as scratch:
        if path is None:
            # expand_sweep reads its base config from a file: the dict is written to one.
            path = os.path.join(scratch, "config.json")
            Path(path).write_text(document)
        elif base_dir is None:
            base = str(Path(path).resolve().parent)
        out = os.fspath(output) if output is not None else os.path.join(scratch, "sweep")
        _, failures = _slsim.sweep(path, base, overrides, axes, out, jobs)
        table = pandas.read_csv(os.path.join(out, "sweep.csv"))
    if failures:
        lines = "\n".join(f"point {folder}: {message}" for folder, message in failures)
        raise SweepError(f"{len(failures)} of {len(table)} points failed:\n{lines}", table)
    return table
