#!/usr/bin/env python3
"""Plots slsim results. Reads the structured outputs of runs (requests.csv, summary.json),
never logs.

  plot.py cdf RUN_DIR... --metric ttft_s -o out.png     latency CDFs of several runs
  plot.py compare RUN_DIR... -o summary.json [--plot p]  key figures of several runs side by side
  plot.py kv RUN_DIR... -o table.json [--plot p]         KV-cache figures by allocator and variant
  plot.py sweep SWEEP_CSV --x COL --y COL [--by COL] -o p  a metric against a parameter, one line per policy
  plot.py breakdown RUN_DIR... -o p                      mean cold-start wait split into queue, load by tier, migration
  plot.py timeline RUN_DIR [--series COL...] -o p        instances and GPU states over time (timeseries.csv)
  plot.py pareto RUN_DIR|SWEEP_CSV... -o t.json --plot p GPU-hours against a latency percentile, Pareto front

Every plot is a PNG; --svg (before the subcommand) writes an SVG beside it.
  plot.py rate RUN_DIR... -o table.json [--plot p]       mean and p99 latency against request rate, one line per policy
"""
import argparse
import csv
import json
import os
import sys

plt = None  # matplotlib.pyplot, imported by the first plot: tables need no matplotlib


def pyplot():
    global plt
    if plt is None:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot
        except ImportError:
            sys.exit(f"plot.py: matplotlib is missing from {sys.executable}; install Debian's python3-matplotlib "
                     "(scripts/setup.sh does) and run plot.py with /usr/bin/python3, or install matplotlib here")
        plt = matplotlib.pyplot
    return plt


METRIC_LABELS = {"ttft_s": "time to first token (s)", "e2e_s": "end-to-end latency (s)",
                 "tpot_s": "time per output token (s)", "cold_start_s": "cold-start wait (s)"}


def run_label(run_dir):
    return os.path.basename(os.path.normpath(run_dir))


def read_json(path, why=""):
    if not os.path.exists(path):
        sys.exit(f"plot.py: {path}: no such file{why}")
    with open(path) as f:
        return json.load(f)


def read_config(run_dir):
    """A run's resolved config.json, which names its policies and settings whatever its folder is called."""
    return read_json(os.path.join(run_dir, "config.json"), " (plot.py reads each run's settings from its config.json)")


def write_json(path, value, **options):
    """Written to a temporary file beside `path`, then renamed: a reader never sees half a table."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=2, **options)
        f.write("\n")
    os.replace(path + ".tmp", path)


def flatten(value, prefix=""):
    """{"a": {"b": [1]}} -> {"a.b.0": 1}."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return {prefix: value}
    flat = {}
    for key, v in items:
        flat.update(flatten(v, f"{prefix}.{key}" if prefix else key))
    return flat or {prefix: value}


def setting_name(key):
    """A config key as a label says it: policies.placement.name -> placement,
    policies.keepalive.params.ttl_s -> keepalive.ttl_s, workload.sources.0.x -> sources.0.x."""
    parts = key.split(".")
    if parts[0] == "policies":
        parts = [p for p in parts[1:] if p != "params"]
        if parts[-1] == "name":
            parts.pop()
    elif parts[0] in ("workload", "engine", "cluster"):
        parts = parts[1:]
    return ".".join(parts)


def differing_labels(settings, keys=None):
    """One label per flattened config: `keys` as key=value, or by default every setting whose
    value is not the same in all of them (a name and version aside, and a policy's parameters
    where the policy itself differs: its name says them)."""
    if keys is None:
        every = sorted(set().union(*settings))
        keys = [k for k in every if k not in ("name", "slsim_version")
                and len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]
        differing_policies = {k[:-len(".name")] for k in keys if k.startswith("policies.") and k.endswith(".name")}
        keys = [k for k in keys if not any(k.startswith(p + ".params") for p in differing_policies)]
    return [", ".join(f"{setting_name(k)}={json.dumps(s.get(k)) if not isinstance(s.get(k), str) else s[k]}"
                      for k in keys) for s in settings]


def read_metric(run_dir, metric):
    path = os.path.join(run_dir, "requests.csv")
    if not os.path.exists(path):
        sys.exit(f"plot.py: {path}: no such file (was the run made with output.requests_csv = true?)")
    values = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if metric not in row:
                sys.exit(f"plot.py: {path}: no column {metric}")
            if row[metric] != "":
                values.append(float(row[metric]))
    return sorted(values)


WRITE_SVG = False  # set from --svg


def save_figure(fig, out, **options):
    """Drawn into a temporary file beside `out`, then renamed."""
    fig.savefig(out + ".tmp", format=os.path.splitext(out)[1][1:] or "png", **options)
    os.replace(out + ".tmp", out)


def save(fig, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    # A fixed date keeps the PNG bytes identical from run to run.
    save_figure(fig, out, dpi=120, metadata={"Software": None} if out.endswith(".png") else None)
    if WRITE_SVG and not out.endswith(".svg"):
        # No date and fixed ids, so that the SVG too is identical from run to run.
        plt.rcParams["svg.hashsalt"] = "slsim"
        save_figure(fig, os.path.splitext(out)[0] + ".svg", metadata={"Date": None})
    plt.close(fig)


def read_rows(path):
    if not os.path.exists(path):
        sys.exit(f"plot.py: {path}: no such file")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def column_label(column):
    """A readable axis label with its unit from a flattened sweep.csv column name."""
    leaf = column.split(".")
    units = {"_s": "s", "_bytes": "bytes", "_gbytes_per_s": "GB/s", "_ms": "ms"}
    for i in range(len(leaf) - 1, -1, -1):
        for suffix, unit in units.items():
            if leaf[i].endswith(suffix):
                return f"{column} ({unit})"
    if column.startswith("gpu_seconds"):
        return f"{column} (GPU-s)"
    return column


def cdf(args):
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for run in args.runs:
        values = read_metric(run, args.metric)
        if not values:
            continue
        n = len(values)
        ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=f"{run_label(run)} (n={n})")
    ax.set_xscale("log" if args.log else "linear")
    ax.set_xlabel(METRIC_LABELS.get(args.metric, args.metric))
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    if args.title:
        ax.set_title(args.title)
    save(fig, args.output)


def compare(args):
    table = {}
    for run in args.runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        table[run_label(run)] = {
            "requests": s["requests"], "completed": s["completed"], "cold_starts": s["cold_starts"],
            "ttft_s": s["ttft_s"], "e2e_s": s["e2e_s"], "gpu_seconds": s["gpu_seconds"],
            "slsim_version": s["slsim_version"],
        }
    write_json(args.output, {"runs": table})
    if not args.plot:
        return
    labels = list(table)
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(10, 4.2))
    bottom = [0.0] * len(labels)
    for state, color in (("busy", "tab:green"), ("idle", "tab:orange"), ("loading", "tab:red")):
        hours = [table[l]["gpu_seconds"][state] / 3600 for l in labels]
        left.bar(labels, hours, bottom=bottom, label=state, color=color)
        bottom = [b + h for b, h in zip(bottom, hours)]
    left.set_ylabel("GPU-hours")
    left.set_title("GPU time by state")
    left.legend()
    right.bar(labels, [table[l]["cold_starts"] for l in labels], color="tab:blue")
    right.set_ylabel("cold starts (requests)")
    right.set_title("Requests that waited for a cold start")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    save(fig, args.plot)


KV_KEYS = ("kv_cache_utilization", "kv_sharing_savings", "instance_throughput_tokens_per_s", "preemptions",
           "swapped_bytes", "completed", "generated_tokens", "simulated_s", "slsim_version")


def kv_allocator_name(config):
    """paged, contiguous (Orca (Max): a max-context reservation) or oracle (Orca (Oracle): the exact one)."""
    engine = config["engine"]
    if engine["kv_allocator"] == "contiguous" and engine.get("contiguous_reservation") == "exact":
        return "oracle"
    return engine["kv_allocator"]


def kv_variant_name(config):
    """What the requests ask for beyond one sequence: nN (N parallel samples), beamN, or basic."""
    parts = []
    for source in config["workload"]["sources"]:
        for key, prefix in (("samples", "n"), ("beam_width", "beam")):
            part = f"{prefix}{source.get(key, 1)}"
            if source.get(key, 1) > 1 and part not in parts:
                parts.append(part)
    return "-".join(parts) or "basic"


def kv(args):
    """Each run's allocator and variant (parallel samples, beam width) come from its config.json:
    the table and the plot set each variant's allocators side by side; throughput gaps are
    paged's over each other allocator's."""
    table, names = {}, {}
    for run in args.runs:
        s = read_json(os.path.join(run, "summary.json"))
        config = read_config(run)
        allocator, variant = kv_allocator_name(config), kv_variant_name(config)
        label = allocator if variant == "basic" else f"{allocator}-{variant}"
        if label in names:
            sys.exit(f"plot.py: {run} and {names[label]} are the same allocator and variant ({label})")
        names[label] = run
        table[label] = {k: s[k] for k in KV_KEYS}
    variants, allocators = [], []
    for label in table:
        allocator, _, variant = label.partition("-")
        variant = variant or "basic"
        if variant not in variants:
            variants.append(variant)
        if allocator not in allocators:
            allocators.append(allocator)

    def value(allocator, variant, key):
        row = table.get(allocator if variant == "basic" else f"{allocator}-{variant}")
        return row[key] if row and row[key] is not None else 0.0

    # Requests per second of busy GPU: every run serves the same requests at saturating load.
    def request_rate(allocator, variant):
        seconds = value(allocator, variant, "generated_tokens") / max(value(allocator, variant, "instance_throughput_tokens_per_s"), 1e-12)
        return value(allocator, variant, "completed") / seconds if seconds > 0 else 0.0

    gaps = {f"paged_over_{a}": {v: request_rate("paged", v) / request_rate(a, v) for v in variants if request_rate(a, v) > 0}
            for a in allocators if a != "paged"}
    write_json(args.output, {"runs": table, "request_throughput_gap": gaps})
    if not args.plot:
        return
    fig, axes = pyplot().subplots(1, 3, figsize=(15, 4.2))
    x = range(len(variants))
    width = 0.8 / len(allocators)
    for ax, title, of in ((axes[0], "KV cache holding tokens (%)", lambda a, v: value(a, v, "kv_cache_utilization") * 100),
                          (axes[2], "throughput (requests per busy GPU-s)", request_rate)):
        for j, allocator in enumerate(allocators):
            offset = (j - (len(allocators) - 1) / 2) * width
            ax.bar([i + offset for i in x], [of(allocator, v) for v in variants], width, label=allocator)
        ax.set_xticks(list(x), variants)
        ax.set_title(title)
        ax.legend()
    axes[1].bar(list(x), [value("paged", v, "kv_sharing_savings") * 100 for v in variants], color="tab:blue")
    axes[1].set_xticks(list(x), variants)
    axes[1].set_title("paged: KV memory saved by sharing (%)")
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, args.plot)


def sweep(args):
    rows = read_rows(args.sweep_csv)
    for column in [args.x, args.y] + ([args.by] if args.by else []):
        if rows and column not in rows[0]:
            sys.exit(f"plot.py: {args.sweep_csv}: no column {column}; columns are {', '.join(rows[0])}")
    # Points that differ only in the columns not named (seeds, say) are averaged; the error bars
    # span their minimum and maximum.
    lines = {}
    for row in rows:
        x, y = number(row[args.x]), number(row[args.y])
        if x is None or y is None:
            continue
        lines.setdefault(row[args.by] if args.by else args.y, {}).setdefault(x, []).append(y)
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for label in sorted(lines):
        xs = sorted(lines[label])
        means = [sum(lines[label][x]) / len(lines[label][x]) for x in xs]
        spread = [[m - min(lines[label][x]) for x, m in zip(xs, means)],
                  [max(lines[label][x]) - m for x, m in zip(xs, means)]]
        has_spread = any(v > 0 for side in spread for v in side)
        ax.errorbar(xs, means, yerr=spread if has_spread else None, marker="o", capsize=3,
                    label=f"{args.by}={label}" if args.by else label)
    ax.set_xscale("log" if args.logx else "linear")
    ax.set_yscale("log" if args.logy else "linear")
    ax.set_xlabel(args.xlabel or column_label(args.x))
    ax.set_ylabel(args.ylabel or column_label(args.y))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if args.title:
        ax.set_title(args.title)
    save(fig, args.output)


BREAKDOWN_TIERS = ["gpu", "dram", "ssd", "remote"]
BREAKDOWN_NAMES = ["queue"] + [f"load ({t})" for t in BREAKDOWN_TIERS] + ["migration", "other"]


def breakdown_means(run):
    """The cold-started requests of a run and the mean over them of each component of the wait:
    (count, {component: seconds}), the components in BREAKDOWN_NAMES order."""
    rows = [r for r in read_rows(os.path.join(run, "requests.csv")) if r.get("cold_start") in ("1", "true")]
    sums = dict.fromkeys(BREAKDOWN_NAMES, 0.0)
    for r in rows:
        queue, load = number(r.get("queue_s")) or 0.0, number(r.get("load_s")) or 0.0
        migration = number(r.get("migration_s")) or 0.0
        sums["queue"] += queue
        tier = r.get("load_tier", "")
        sums[f"load ({tier})" if tier in BREAKDOWN_TIERS else "other"] += load
        sums["migration"] += migration
        sums["other"] += max(0.0, (number(r.get("cold_start_s")) or 0.0) - queue - load - migration)
    return len(rows), {n: sums[n] / len(rows) if rows else 0.0 for n in BREAKDOWN_NAMES}


def breakdown(args):
    """Mean over cold-started requests of each component of the wait, stacked per run."""
    labels, components = [], {}
    names = BREAKDOWN_NAMES
    for run in args.runs:
        count, means = breakdown_means(run)
        labels.append(f"{run_label(run)}\n(n={count})")
        for n in names:
            components.setdefault(n, []).append(means[n])
    fig, ax = pyplot().subplots(figsize=(max(6, 1.6 * len(labels)), 4.5))
    bottom = [0.0] * len(labels)
    for n in names:
        if any(components[n]):
            ax.bar(labels, components[n], bottom=bottom, label=n)
            bottom = [b + v for b, v in zip(bottom, components[n])]
    ax.set_ylabel("mean wait of a cold-started request (s)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    if args.title:
        ax.set_title(args.title)
    fig.tight_layout()
    save(fig, args.output)


def read_timeseries(run, series=None):
    """A run's timeseries.csv (or the file itself) as (times, panels): panels are lists of
    (column, values), the counts first, then the GPU series, then rates (`prefix_hit_rate.gpu`,
    NaN where a row has none); `series` picks columns (default: every numeric one)."""
    path = os.path.join(run, "timeseries.csv") if os.path.isdir(run) else run
    rows = read_rows(path)
    if not rows or "time_s" not in rows[0]:
        sys.exit(f"plot.py: {path}: expected a header with a time_s column")
    series = series or [c for c in rows[0] if c != "time_s" and any(number(r[c]) is not None for r in rows)]
    missing = [c for c in series if c not in rows[0]]
    if missing:
        sys.exit(f"plot.py: {path}: no column {', '.join(missing)}; columns are {', '.join(rows[0])}")
    times = [float(r["time_s"]) for r in rows]
    rates = [c for c in series if is_rate(c)]
    gpu = [c for c in series if "gpu" in c.lower() and c not in rates]
    other = [c for c in series if c not in gpu and c not in rates]
    panels = [[(c, [number(r[c]) or 0.0 for r in rows]) for c in p] for p in (other, gpu) if p]
    if rates:
        nan = float("nan")
        panels.append([(c, [nan if number(r[c]) is None else number(r[c]) for r in rows]) for c in rates])
    return times, panels


def is_rate(column):
    """A timeseries column holding a share in [0, 1] (a hit rate), not a count."""
    return "_rate" in column


def timeline(args):
    """timeseries.csv: a time_s column and numeric series (instances, GPUs busy/idle/loading, queues)."""
    times, panels = read_timeseries(args.run, args.series)
    fig, axes = pyplot().subplots(len(panels), 1, figsize=(8, 2.8 * len(panels) + 0.8), sharex=True, squeeze=False)
    for ax, columns in zip(axes[:, 0], panels):
        for c, values in columns:
            ax.step(times, values, where="post", label=c)
        ax.set_ylabel("share" if is_rate(columns[0][0]) else
                      "GPUs" if any("gpu" in c.lower() for c, _ in columns) else "count")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1, 0].set_xlabel("simulated time (s)")
    if args.title:
        axes[0, 0].set_title(args.title)
    fig.tight_layout()
    save(fig, args.output)


def short_names(columns):
    """Each dotted column's shortest suffix that no other column shares."""
    names = []
    for c in columns:
        parts = c.split(".")
        for n in range(1, len(parts) + 1):
            suffix = ".".join(parts[-n:])
            if not any(o != c and ".".join(o.split(".")[-n:]) == suffix for o in columns):
                break
        names.append(suffix)
    return names


def held_gpu_hours(gpu_seconds):
    """GPU-hours held by instances: every state of summary.json's gpu_seconds but `free`."""
    return sum(v for state, v in gpu_seconds.items() if state != "free") / 3600.0


def mark_pareto(points, metric):
    """Sets each point's `pareto` (on the front when no other point is at least as good on both
    gpu_hours and `metric` and better on one) and sorts them along the front."""
    for p in points:
        p["pareto"] = not any(o["gpu_hours"] <= p["gpu_hours"] and o[metric] <= p[metric] and
                              (o["gpu_hours"] < p["gpu_hours"] or o[metric] < p[metric]) for o in points)
    points.sort(key=lambda p: (p["gpu_hours"], p[metric]))


def pareto(args):
    """One point per run folder or sweep.csv row: the GPU-hours held by instances (every state but
    `free`, which is the rest of the cluster) against a latency percentile, as a JSON table (with
    each point's place on the Pareto front) and optionally a plot."""
    metric = f"{args.metric}.{args.percentile}"
    points = []
    for source in args.sources:
        if os.path.isdir(source):
            with open(os.path.join(source, "summary.json")) as f:
                s = json.load(f)
            points.append({"run": run_label(source), "gpu_hours": held_gpu_hours(s["gpu_seconds"]),
                           metric: s[args.metric][args.percentile], "cold_starts": s["cold_starts"]})
            continue
        for row in read_rows(source):
            if number(row.get(metric)) is None:
                continue
            columns = args.label or ["point"]
            points.append({"run": ", ".join(f"{short}={row[c]}" for short, c in zip(short_names(columns), columns)),
                           "gpu_hours": held_gpu_hours({c[len("gpu_seconds."):]: number(row[c]) or 0.0
                                                          for c in row if c.startswith("gpu_seconds.")}),
                           metric: number(row[metric]), "cold_starts": number(row.get("cold_starts"))})
    mark_pareto(points, metric)
    write_json(args.output, {"metric": metric, "runs": points})
    if not args.plot:
        return
    front = [p for p in points if p["pareto"]]
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    ax.scatter([p["gpu_hours"] for p in points], [p[metric] for p in points], color="tab:gray", zorder=2)
    ax.step([p["gpu_hours"] for p in front], [p[metric] for p in front], where="post", color="tab:red",
            marker="o", label="Pareto front", zorder=3)
    for p in points:
        ax.annotate(p["run"], (p["gpu_hours"], p[metric]), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
    ax.set_xlabel("GPU time: busy + idle + loading (+ migrating) (GPU-hours)")
    ax.set_ylabel(f"{args.percentile} {METRIC_LABELS.get(args.metric, args.metric)}")
    ax.set_yscale("log" if args.logy else "linear")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if args.title:
        ax.set_title(args.title)
    save(fig, args.plot)

def rate(args):
    """Runs that differ only in their request rate are one policy's line; a policy is named by
    the config settings (--label keys, or by default every one) in which the lines differ."""
    runs = []
    for run in args.runs:
        s = read_json(os.path.join(run, "summary.json"))
        config = read_config(run)
        sources = config["workload"]["sources"]
        if any("rate_per_s" not in src for src in sources):
            sys.exit(f"plot.py: {run}/config.json: every workload source needs a rate_per_s for `rate`")
        settings = flatten(config)
        for i in range(len(sources)):
            del settings[f"workload.sources.{i}.rate_per_s"]
        runs.append((run, s, sum(src["rate_per_s"] for src in sources), settings))
    groups = []  # distinct settings, in the order first met
    for _, _, _, settings in runs:
        if settings not in groups:
            groups.append(settings)
    labels = differing_labels(groups, args.label)
    if len(groups) == 1 and not args.label:
        labels = [groups[0].get("name", "runs")]
    if len(set(labels)) < len(labels):
        sys.exit("plot.py: the --label keys do not tell the policies apart; name more keys (or none)")
    table = {}
    for run, s, total_rate, settings in runs:
        table.setdefault(labels[groups.index(settings)], []).append({
            "rate_per_s": total_rate, "requests": s["requests"], "completed": s["completed"],
            "e2e_mean_s": s["e2e_s"]["mean"], "e2e_p99_s": s["e2e_s"]["p99"],
            "ttft_mean_s": s["ttft_s"]["mean"], "ttft_p99_s": s["ttft_s"]["p99"],
            "cold_starts": s["cold_starts"], "loads_by_tier": s["loads_by_tier"],
            "migrations": s["migrations"]["by_method"], "requests_moved": s["migrations"]["requests_moved"],
            "placement_estimate_abs_error_mean_s": s["placement_estimates"]["absolute_error_s"]["mean"],
            "placement_estimate_abs_error_p99_s": s["placement_estimates"]["absolute_error_s"]["p99"],
            "gpu_seconds": s["gpu_seconds"]})
    for points in table.values():
        points.sort(key=lambda p: p["rate_per_s"])
    write_json(args.output, table, sort_keys=True)
    if not args.plot:
        return
    # Long policy names get a legend row each.
    ncol = len(table) if sum(len(policy) for policy in table) <= 100 else 1
    legend_rows = -(-len(table) // ncol)
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 4.2 + 0.25 * (legend_rows - 1)))
    for policy in sorted(table):
        points = table[policy]
        x = [p["rate_per_s"] for p in points]
        axes[0].plot(x, [p["e2e_mean_s"] for p in points], marker="o", label=policy)
        axes[1].plot(x, [p["e2e_p99_s"] for p in points], marker="o", label=policy)
    for ax, title in zip(axes, ["mean end-to-end latency (s)", "p99 end-to-end latency (s)"]):
        ax.set_xlabel("request rate (requests/s, all models)")
        ax.set_title(title)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=ncol)
    fig.tight_layout(rect=(0, 0.08 * legend_rows * 4.2 / fig.get_figheight(), 1, 1))
    save(fig, args.plot)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--svg", action="store_true", help="also write each plot as SVG beside its PNG")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cdf", help="latency CDFs of several runs")
    p.add_argument("runs", nargs="+", help="run output folders")
    p.add_argument("--metric", default="ttft_s", choices=sorted(METRIC_LABELS))
    p.add_argument("-o", "--output", required=True, help="PNG (or SVG) file")
    p.add_argument("--log", action="store_true", help="logarithmic latency axis")
    p.add_argument("--title")
    p.set_defaults(func=cdf)
    p = sub.add_parser("compare", help="key figures of several runs side by side")
    p.add_argument("runs", nargs="+")
    p.add_argument("-o", "--output", required=True, help="JSON file")
    p.add_argument("--plot", help="PNG of GPU time by state and cold starts")
    p.set_defaults(func=compare)
    p = sub.add_parser("kv", help="KV-cache utilization, sharing savings and throughput of allocator runs")
    p.add_argument("runs", nargs="+", help="run output folders (each config.json names its allocator and variant)")
    p.add_argument("-o", "--output", required=True, help="JSON table")
    p.add_argument("--plot", help="PNG of utilization, savings and throughput")
    p.set_defaults(func=kv)
    p = sub.add_parser("sweep", help="a metric of sweep.csv against a parameter, one line per policy")
    p.add_argument("sweep_csv")
    p.add_argument("--x", required=True, help="parameter column (numeric)")
    p.add_argument("--y", required=True, help="metric column, e.g. ttft_s.p99")
    p.add_argument("--by", help="column whose values get one line each (a policy name)")
    p.add_argument("--logx", action="store_true")
    p.add_argument("--logy", action="store_true")
    p.add_argument("--xlabel")
    p.add_argument("--ylabel")
    p.add_argument("--title")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.set_defaults(func=sweep)
    p = sub.add_parser("breakdown", help="cold-start wait split into queue, load by tier, migration")
    p.add_argument("runs", nargs="+", help="run output folders (requests.csv)")
    p.add_argument("--title")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.set_defaults(func=breakdown)
    p = sub.add_parser("timeline", help="instances and GPU states over time from timeseries.csv")
    p.add_argument("run", help="run output folder, or a timeseries.csv")
    p.add_argument("--series", nargs="+", help="columns to draw (default: every numeric one)")
    p.add_argument("--title")
    p.add_argument("-o", "--output", required=True, help="PNG file")
    p.set_defaults(func=timeline)
    p = sub.add_parser("pareto", help="GPU-hours against a latency percentile")
    p.add_argument("sources", nargs="+", help="run output folders and/or sweep.csv files")
    p.add_argument("--metric", default="ttft_s", choices=sorted(METRIC_LABELS))
    p.add_argument("--percentile", default="p99", choices=["mean", "p50", "p90", "p99", "max"])
    p.add_argument("--label", nargs="+", help="sweep.csv columns that name a point (default: point)")
    p.add_argument("--logy", action="store_true")
    p.add_argument("--title")
    p.add_argument("-o", "--output", required=True, help="JSON table of the points and the front")
    p.add_argument("--plot", help="PNG of the points and the front")
    p.set_defaults(func=pareto)
    p = sub.add_parser("rate", help="mean and p99 latency against request rate, one line per policy")
    p.add_argument("runs", nargs="+", help="run output folders (each config.json names its policies and rates)")
    p.add_argument("--label", nargs="+", help="config keys that name a policy, e.g. policies.placement.name "
                   "(default: every setting in which the runs differ besides the rate)")
    p.add_argument("-o", "--output", required=True, help="JSON table")
    p.add_argument("--plot", help="PNG of mean and p99 end-to-end latency against rate")
    p.set_defaults(func=rate)
    args = parser.parse_args()
    global WRITE_SVG
    WRITE_SVG = args.svg
    args.func(args)


if __name__ == "__main__":
    main()
