#!/usr/bin/env python3
"""slsim report: one self-contained HTML page (tables and interactive plotly plots, plotly.js
embedded, so it opens offline) from run folders and sweep folders.

  slsim report RUN_OR_SWEEP... -o report.html [--title TEXT]

A run folder holds summary.json and config.json (requests.csv and timeseries.csv when written);
a sweep is a folder holding sweep.csv (slsim sweep -o FOLDER) or a sweep.csv itself. The data are
read as scripts/plot.py reads them (its functions), so a figure here and a PNG of plot.py agree.
The page is written to a temporary file beside the output and renamed into place.
"""
import argparse
import html
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plot  # noqa: E402  (scripts/plot.py: the data loading shared with the PNG plots)

PROG = "slsim report"
# Points drawn of a CDF: quantiles at this many evenly spaced levels, so that a run of millions of
# requests stays a page of a few megabytes.
CDF_POINTS = 1000
# Timelines are drawn for this many runs at most (each is a figure of its own).
MAX_TIMELINES = 8


def fail(message):
    print(f"{PROG}: {message}", file=sys.stderr)
    sys.exit(2)


def import_plotly():
    try:
        import plotly
        import plotly.graph_objects
        import plotly.io
        import plotly.offline
        import plotly.subplots
    except ImportError:
        fail(f"plotly is missing from {sys.executable}; install Debian's python3-plotly (scripts/setup.sh does)")
    return plotly


def classify(paths):
    """(runs, sweeps): each argument a run folder, a sweep folder or a sweep.csv."""
    runs, sweeps = [], []
    for path in paths:
        if os.path.isfile(path) and path.endswith(".csv"):
            sweeps.append(path)
        elif os.path.isfile(os.path.join(path, "summary.json")):
            runs.append(path)
        elif os.path.isfile(os.path.join(path, "sweep.csv")):
            sweeps.append(os.path.join(path, "sweep.csv"))
        else:
            fail(f"{path}: neither a run folder (summary.json) nor a sweep (sweep.csv)")
    return runs, sweeps


def table_html(header, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell_text(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell_text(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class Page:
    """The figures and tables in order; figures get ids plot-1, plot-2, ... in place of plotly's
    random ones, so that the same inputs give the same page."""

    def __init__(self, plotly, title):
        self.plotly = plotly
        self.title = title
        self.parts = []
        self.figures = 0

    def heading(self, text, level=2):
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text):
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, header, rows):
        self.parts.append(table_html(header, rows))

    def figure(self, fig):
        self.figures += 1
        fig.update_layout(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50))
        div = self.plotly.io.to_html(fig, include_plotlyjs=False, full_html=False, default_height="460px")
        generated = re.search(r'<div id="([^"]+)" class="plotly-graph-div"', div)
        if generated:
            div = div.replace(generated.group(1), f"plot-{self.figures}")
        self.parts.append(div)

    def html(self):
        style = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
                 "margin:1em 0;font-size:90%}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                 "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title>"
                f"<meta name=\"slsim-figures\" content=\"{self.figures}\"><style>{style}</style>"
                f"<script type=\"text/javascript\">{self.plotly.offline.get_plotlyjs()}</script></head><body>"
                f"<h1>{html.escape(self.title)}</h1>\n" + "\n".join(self.parts) + "\n</body></html>\n")


def run_labels(runs, configs):
    """Folder names, and the settings in which the runs differ (plot.py's labels for `rate`)."""
    settings = plot.differing_labels([plot.flatten(c) for c in configs]) if len(runs) > 1 else [""]
    return [plot.run_label(r) for r in runs], settings


def cdf_points(values):
    """At most CDF_POINTS (value, share) pairs of sorted values: every value, or evenly spaced quantiles."""
    n = len(values)
    if n <= CDF_POINTS:
        return values, [(i + 1) / n for i in range(n)]
    picks = [round(k * (n - 1) / (CDF_POINTS - 1)) for k in range(CDF_POINTS)]
    return [values[i] for i in picks], [(i + 1) / n for i in picks]


def log_toggle(axis):
    """Buttons that switch an axis between linear and logarithmic."""
    return [dict(type="buttons", direction="right", x=1, y=1.15, xanchor="right", buttons=[
        dict(label="linear", method="relayout", args=[{f"{axis}.type": "linear"}]),
        dict(label="log", method="relayout", args=[{f"{axis}.type": "log"}])])]


def runs_section(page, runs):
    go, make_subplots = page.plotly.graph_objects, page.plotly.subplots.make_subplots
    summaries = [plot.read_json(os.path.join(r, "summary.json")) for r in runs]
    configs = [plot.read_config(r) for r in runs]
    names, settings = run_labels(runs, configs)
    page.heading("Runs")
    header = ["run", "settings", "requests", "completed", "rejected", "cold starts", "TTFT p50 (s)", "TTFT p90 (s)",
              "TTFT p99 (s)", "E2E p50 (s)", "E2E p99 (s)", "GPU-h busy", "GPU-h idle", "GPU-h loading", "USD",
              "slsim"]
    rows = []
    for name, setting, s in zip(names, settings, summaries):
        gpu = s["gpu_seconds"]
        rows.append([name, setting, s["requests"], s["completed"], s["rejected"], s["cold_starts"], s["ttft_s"]["p50"],
                     s["ttft_s"]["p90"], s["ttft_s"]["p99"], s["e2e_s"]["p50"], s["e2e_s"]["p99"], gpu["busy"] / 3600,
                     gpu["idle"] / 3600, gpu["loading"] / 3600, s.get("usd"), s["slsim_version"]])
    page.table(header, rows)

    with_requests = [(n, r) for n, r in zip(names, runs) if os.path.isfile(os.path.join(r, "requests.csv"))]
    for metric in ("ttft_s", "e2e_s"):
        if not with_requests:
            break
        fig = go.Figure()
        for name, run in with_requests:
            values = plot.read_metric(run, metric)
            if values:
                x, y = cdf_points(values)
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line_shape="hv", name=f"{name} (n={len(values)})"))
        fig.update_layout(title=f"CDF of {plot.METRIC_LABELS[metric]}", xaxis_title=plot.METRIC_LABELS[metric],
                          yaxis_title="share of requests", yaxis_range=[0, 1], updatemenus=log_toggle("xaxis"))
        page.figure(fig)

    fig = make_subplots(rows=1, cols=2, subplot_titles=("GPU time by state", "Requests that waited for a cold start"))
    for state in ("busy", "idle", "loading", "migrating"):
        fig.add_trace(go.Bar(x=names, y=[s["gpu_seconds"].get(state, 0) / 3600 for s in summaries], name=state),
                      row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[s["cold_starts"] for s in summaries], name="cold starts", showlegend=False),
                  row=1, col=2)
    fig.update_layout(barmode="stack", yaxis_title="GPU-hours", yaxis2_title="requests")
    page.figure(fig)

    if with_requests:
        fig = go.Figure()
        means = [plot.breakdown_means(run) for _, run in with_requests]
        labels = [f"{name} (n={count})" for (name, _), (count, _) in zip(with_requests, means)]
        for component in plot.BREAKDOWN_NAMES:
            values = [m[component] for _, m in means]
            if any(values):
                fig.add_trace(go.Bar(x=labels, y=values, name=component))
        fig.update_layout(barmode="stack", title="The wait of a cold-started request, by component",
                          yaxis_title="mean wait (s)")
        page.figure(fig)

    timelines = [(n, r) for n, r in zip(names, runs) if os.path.isfile(os.path.join(r, "timeseries.csv"))]
    if len(timelines) > MAX_TIMELINES:
        page.paragraph(f"Timelines of the first {MAX_TIMELINES} of {len(timelines)} runs.")
    for name, run in timelines[:MAX_TIMELINES]:
        times, panels = plot.read_timeseries(run)
        # Bytes (the caches' contents) get a panel of their own, beside counts and GPUs.
        panels = [[(c, v) for c, v in p if not c.endswith("_bytes")] for p in panels] + \
            [[(c, v) for p in panels for c, v in p if c.endswith("_bytes")]]
        panels = [p for p in panels if p]
        fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08)
        for i, columns in enumerate(panels, start=1):
            for column, values in columns:
                fig.add_trace(go.Scatter(x=times, y=values, mode="lines", line_shape="hv", name=column), row=i, col=1)
            unit = ("bytes" if columns[0][0].endswith("_bytes") else "share" if plot.is_rate(columns[0][0]) else
                    "GPUs" if "gpu" in columns[0][0].lower() else "count")
            fig.update_yaxes(title_text=unit, row=i, col=1)
        fig.update_xaxes(title_text="simulated time (s)", row=len(panels), col=1)
        fig.update_layout(title=f"{name}: instances and GPU states over time", height=280 * len(panels) + 120)
        page.figure(fig)


def sweep_parameters(csv_path, rows):
    """The parameter columns of sweep.csv: those between `point` and the summary's columns, told
    apart by a point's summary.json, or (without the point folders) by the first column that
    names a summary figure."""
    columns = list(rows[0]) if rows else []
    folder = os.path.dirname(csv_path)
    for row in rows:
        summary = os.path.join(folder, row["point"], "summary.json")
        if os.path.isfile(summary):
            flat = plot.flatten(plot.read_json(summary))
            return [c for c in columns[1:] if c not in flat and c != "error"]
    parameters = []
    for c in columns[1:]:
        if c.split(".")[0] in ("requests", "completed", "cold_starts", "ttft_s", "bytes_by_link_class", "cache",
                               "cold_start_s", "cold_starts_by_tier", "cost", "e2e_s", "events"):
            break
        parameters.append(c)
    return parameters


def sweep_section(page, csv_path):
    go, make_subplots = page.plotly.graph_objects, page.plotly.subplots.make_subplots
    rows = plot.read_rows(csv_path)
    page.heading(f"Sweep {csv_path}")
    if not rows:
        page.paragraph("sweep.csv has no points.")
        return
    parameters = sweep_parameters(csv_path, rows)
    short = plot.short_names(parameters) if parameters else []
    metrics = [("requests", "requests"), ("cold_starts", "cold starts"), ("ttft_s.p50", "TTFT p50 (s)"),
               ("ttft_s.p99", "TTFT p99 (s)"), ("e2e_s.p99", "E2E p99 (s)")]
    metrics = [(c, label) for c, label in metrics if c in rows[0]]

    def gpu_hours(row):
        return plot.held_gpu_hours({c[len("gpu_seconds."):]: plot.number(row[c]) or 0.0
                                    for c in row if c.startswith("gpu_seconds.")})

    errors = "error" in rows[0]
    header = short + [label for _, label in metrics] + ["GPU-hours held"] + (["error"] if errors else [])
    table = []
    for row in rows:
        numbers = [plot.number(row[c]) for c, _ in metrics]
        table.append([row[p] for p in parameters] + numbers + [gpu_hours(row)] + ([row["error"]] if errors else []))
    page.table(header, table)

    done = [r for r in rows if plot.number(r.get("ttft_s.p99")) is not None]
    numeric = [p for p in parameters if all(plot.number(r[p]) is not None for r in done)]
    for x in numeric:
        # One line per combination of the other parameters; points equal in those (seeds) are averaged.
        others = [p for p in parameters if p != x]
        fig = make_subplots(rows=1, cols=2, subplot_titles=("TTFT p99 (s)", "GPU-hours held"))
        lines = {}
        for r in done:
            key = ", ".join(f"{s}={r[p]}" for s, p in zip(short, parameters) if p in others) or "all"
            lines.setdefault(key, {}).setdefault(plot.number(r[x]), []).append(r)
        for i, (key, points) in enumerate(sorted(lines.items())):
            xs = sorted(points)
            for col, value in ((1, lambda r: plot.number(r["ttft_s.p99"])), (2, gpu_hours)):
                ys = [sum(value(r) for r in points[v]) / len(points[v]) for v in xs]
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=key, legendgroup=key,
                                         showlegend=col == 1, line_color=COLORS[i % len(COLORS)]), row=1, col=col)
        fig.update_xaxes(title_text=short[parameters.index(x)])
        fig.update_layout(title=f"against {x}")
        page.figure(fig)

    points = [{"run": ", ".join(f"{s}={r[p]}" for s, p in zip(short, parameters)) or r["point"],
               "gpu_hours": gpu_hours(r), "ttft_s.p99": plot.number(r["ttft_s.p99"])} for r in done]
    if points:
        plot.mark_pareto(points, "ttft_s.p99")
        front = [p for p in points if p["pareto"]]
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=[p["gpu_hours"] for p in points], y=[p["ttft_s.p99"] for p in points],
                                 mode="markers", name="points", text=[p["run"] for p in points],
                                 marker_color="gray"))
        fig.add_trace(go.Scatter(x=[p["gpu_hours"] for p in front], y=[p["ttft_s.p99"] for p in front],
                                 mode="lines+markers", line_shape="hv", name="Pareto front",
                                 text=[p["run"] for p in front], marker_color="crimson"))
        fig.update_layout(title="GPU time against TTFT p99 (hover for the point)",
                          xaxis_title="GPU-hours held by instances", yaxis_title="TTFT p99 (s)",
                          updatemenus=log_toggle("yaxis"))
        page.figure(fig)


# plotly's default colour cycle, named so that a line keeps its colour in both panels of a figure.
COLORS = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF",
          "#FECB52"]


def write_atomically(path, text):
    """A unique temporary file beside `path`, renamed into place: never half a report."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="run folders, sweep folders (sweep.csv) or sweep.csv files")
    parser.add_argument("-o", "--output", required=True, help="the HTML file to write")
    parser.add_argument("--title", default="slsim report")
    args = parser.parse_args()
    plotly = import_plotly()
    runs, sweeps = classify(args.inputs)
    page = Page(plotly, args.title)
    page.paragraph("Inputs: " + ", ".join(args.inputs))
    try:
        if runs:
            runs_section(page, runs)
        for csv_path in sweeps:
            sweep_section(page, csv_path)
    except SystemExit as e:
        # plot.py's loaders exit with a message naming the file: the same, as this command's.
        if isinstance(e.code, str):
            fail(e.code.removeprefix("plot.py: "))
        raise
    except (KeyError, json.JSONDecodeError) as e:
        fail(f"unexpected content in the inputs ({type(e).__name__}: {e}); are they slsim outputs?")
    write_atomically(args.output, page.html())
    print(f"{PROG}: {len(runs)} runs, {len(sweeps)} sweeps, {page.figures} plots -> {args.output}")


if __name__ == "__main__":
    main()
