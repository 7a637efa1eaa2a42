"""Pure-Python parts of the serverless testbed controller (controller.py): the canonical
trace reader, the Azure-window workload maker, the instance fleet (routing to a warm
instance, cold starts, fixed-TTL keep-alive), the DRAM checkpoint cache and the metrics.
No PyTorch and no processes here, so all of it is testable anywhere
(kernels/testbed/test_serverless.py)."""
import collections
import csv
import dataclasses
import datetime
import gzip
import json
import math
import os
import random

CANONICAL_HEADER = ["arrival_s", "model", "input_tokens", "output_tokens", "samples", "beam_width",
                    "prefix_blocks"]


class TraceError(ValueError):
    pass


def load_run_json(path):
    """A testbed JSON file, gzip-compressed when its name ends in .gz (a controller run's
    per-request and step logs are megabytes; compressed, the repository stays under the size a
    device call can carry)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def run_json_path(folder, stem):
    """folder/stem.json, else folder/stem.json.gz, else None."""
    for suffix in (".json", ".json.gz"):
        path = os.path.join(folder, stem + suffix)
        if os.path.exists(path):
            return path
    return None


@dataclasses.dataclass
class Request:
    request_id: int
    arrival_s: float
    model: str
    input_tokens: int
    output_tokens: int


def read_canonical_trace(path):
    """Requests of a canonical CSV (docs/config.md, "Traces"): arrivals relative to the first
    request, sorted; one sample and beam width 1 only (the engine has neither)."""
    requests = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or header[:4] != CANONICAL_HEADER[:4]:
            raise TraceError(f"{path}:1: expected the header {','.join(CANONICAL_HEADER)}, got {header}")
        names = {name: i for i, name in enumerate(header)}
        for line, row in enumerate(reader, start=2):
            if not row:
                continue

            def field(name, kind, minimum):
                try:
                    value = kind(row[names[name]])
                except (IndexError, ValueError):
                    raise TraceError(f"{path}:{line}: field {name}: expected a number, got "
                                     f"{row[names[name]] if names[name] < len(row) else 'nothing'!r}") from None
                if value < minimum or (kind is float and not math.isfinite(value)):
                    raise TraceError(f"{path}:{line}: field {name}: expected at least {minimum}, got {value}")
                return value

            arrival = field("arrival_s", float, -math.inf)
            if requests and arrival < requests[-1].arrival_s:
                raise TraceError(f"{path}:{line}: arrival {arrival} is earlier than the previous one")
            for name in ("samples", "beam_width"):
                if name in names and names[name] < len(row) and row[names[name]] not in ("", "1"):
                    raise TraceError(f"{path}:{line}: field {name}: the testbed engine serves 1 only")
            model = row[names["model"]] if names["model"] < len(row) else ""
            if not model:
                raise TraceError(f"{path}:{line}: field model: empty")
            requests.append(Request(len(requests), arrival, model, field("input_tokens", int, 1),
                                    field("output_tokens", int, 1)))
    if requests:
        first = requests[0].arrival_s
        for r in requests:
            r.arrival_s -= first
    return requests


def write_canonical_trace(path, requests):
    with open(path, "w", newline="") as f:
        f.write(",".join(CANONICAL_HEADER) + "\n")
        for r in requests:
            f.write(f"{r.arrival_s:.6f},{r.model},{r.input_tokens},{r.output_tokens},1,1,\n")


def read_azure_window(path, start_s, duration_s):
    """(arrival relative to the trace's first request, context tokens, generated tokens) of the
    Azure LLM 2023 rows in [start_s, start_s + duration_s), shifted to start at 0."""
    rows = []
    first = None
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for line, row in enumerate(reader, start=2):
            try:
                when = datetime.datetime.strptime(row["TIMESTAMP"][:26], "%Y-%m-%d %H:%M:%S.%f")
                inp, out = int(row["ContextTokens"]), int(row["GeneratedTokens"])
            except (KeyError, ValueError) as exc:
                raise TraceError(f"{path}:{line}: {exc}") from None
            t = when.timestamp()
            if first is None:
                first = t
            rel = t - first
            if start_s <= rel < start_s + duration_s:
                rows.append((rel - start_s, inp, out))
            elif rel >= start_s + duration_s:
                break
    return rows


def make_workload(rows, models, weights, keep_every, seed, max_model_len, max_batched_tokens):
    """Requests from Azure rows: every `keep_every`-th row kept (thinning, so one GPU can
    serve the rate), each assigned a model by a seeded draw with `weights`, lengths capped
    so that prompt + output fits the model's window (`max_model_len`: tokens, or a dict of
    tokens per model; slsim rejects a longer request) and the prompt one step's token budget."""
    rng = random.Random(seed)
    requests = []
    for i, (arrival, inp, out) in enumerate(rows):
        if i % keep_every:
            continue
        model = rng.choices(models, weights=weights)[0]
        window = max_model_len[model] if isinstance(max_model_len, dict) else max_model_len
        inp = max(1, min(inp, max_batched_tokens, window - 1))
        out = max(1, min(out, window - inp))
        requests.append(Request(len(requests), arrival, model, inp, out))
    if requests:
        first = requests[0].arrival_s
        for r in requests:
            r.arrival_s = round(r.arrival_s - first, 6)
    return requests


class DramCache:
    """The host's checkpoint cache (ServerlessLLM's pinned DRAM pool; slsim's dram_cache with
    policy lru): a checkpoint enters once an instance has loaded it from disk, and the least
    recently used ones leave when a new one does not fit."""

    def __init__(self, capacity_bytes):
        self.capacity_bytes = capacity_bytes
        self.entries = collections.OrderedDict()  # model -> bytes, least recently used first

    def holds(self, model):
        return model in self.entries

    def touch(self, model):
        if model in self.entries:
            self.entries.move_to_end(model)

    def insert(self, model, nbytes):
        """Returns the models evicted to make room ([] when it fits, or when it can never fit)."""
        if model in self.entries or nbytes > self.capacity_bytes:
            self.touch(model)
            return []
        evicted = []
        while sum(self.entries.values()) + nbytes > self.capacity_bytes:
            victim, _ = self.entries.popitem(last=False)
            evicted.append(victim)
        self.entries[model] = nbytes
        return evicted


@dataclasses.dataclass
class Instance:
    instance_id: int
    model: str
    tier: str
    launched_s: float
    state: str = "starting"  # starting -> ready -> stopping -> exited
    ready_s: float = None
    outstanding: int = 0
    idle_since_s: float = None
    pending: list = dataclasses.field(default_factory=list)  # requests waiting for the start
    fills_cache: bool = False  # its load from disk also fills the DRAM cache


class Fleet:
    """At most one live instance per model (the engine batches continuously, and the GPU is
    one). A request goes to the model's ready instance; if the model has none, it waits for
    the starting one, or starts one (a cold start). A ready instance with nothing outstanding
    for `ttl_s` is released (fixed keep-alive; ttl 0 releases it as soon as it is idle)."""

    def __init__(self, ttl_s):
        self.ttl_s = ttl_s
        self.live = {}  # model -> Instance (starting or ready)
        self.instances = []
        self.cold = set()  # request ids that waited for a start

    def route(self, request, now_s, tier):
        """Returns ("send", instance), ("wait", instance) or ("start", new instance)."""
        inst = self.live.get(request.model)
        if inst is not None and inst.state == "ready":
            inst.outstanding += 1
            inst.idle_since_s = None
            return "send", inst
        self.cold.add(request.request_id)
        if inst is None:
            inst = Instance(len(self.instances), request.model, tier, now_s)
            self.instances.append(inst)
            self.live[request.model] = inst
            inst.pending.append(request)
            return "start", inst
        inst.pending.append(request)
        return "wait", inst

    def ready(self, inst, now_s):
        """The instance finished starting: returns the requests to send to it now."""
        inst.state, inst.ready_s = "ready", now_s
        pending, inst.pending = inst.pending, []
        inst.outstanding += len(pending)
        if not pending:
            inst.idle_since_s = now_s
        return pending

    def finished(self, inst, now_s):
        inst.outstanding -= 1
        if inst.outstanding == 0:
            inst.idle_since_s = now_s

    def expired(self, now_s):
        """Ready instances whose keep-alive has run out; each is marked stopping and leaves the
        live set (a later request for its model starts a new one)."""
        out = []
        for inst in list(self.live.values()):
            if (inst.state == "ready" and inst.outstanding == 0 and inst.idle_since_s is not None
                    and now_s - inst.idle_since_s >= self.ttl_s):
                inst.state = "stopping"
                del self.live[inst.model]
                out.append(inst)
        return out

    def next_expiry_s(self):
        times = [i.idle_since_s + self.ttl_s for i in self.live.values()
                 if i.state == "ready" and i.outstanding == 0 and i.idle_since_s is not None]
        return min(times) if times else None

    def failed(self, inst):
        """The instance's process died: its pending requests are returned (not served)."""
        if self.live.get(inst.model) is inst:
            del self.live[inst.model]
        inst.state = "exited"
        pending, inst.pending = inst.pending, []
        return pending


def percentile(values, q):
    """Nearest-rank percentile (the rank slsim's summary uses), q in [0, 100]."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(s)))
    return s[rank - 1]


def request_metrics(records):
    """Metrics of served requests: records with arrival_s, first_token_s, last_token_s,
    output_tokens and cold (bool)."""
    done = [r for r in records if r.get("last_token_s") is not None]
    ttft = lambda r: r["first_token_s"] - r["arrival_s"]  # noqa: E731
    tpot = [(r["last_token_s"] - r["first_token_s"]) / (r["output_tokens"] - 1) for r in done
            if r["output_tokens"] > 1]
    e2e = [r["last_token_s"] - r["arrival_s"] for r in done]
    cold = [ttft(r) for r in done if r["cold"]]
    warm = [ttft(r) for r in done if not r["cold"]]
    return {"requests": len(records), "completed": len(done),
            "cold_starts": sum(1 for r in records if r["cold"]),
            "ttft_cold_p50_s": percentile(cold, 50), "ttft_cold_p90_s": percentile(cold, 90),
            "ttft_warm_p50_s": percentile(warm, 50), "tpot_p50_s": percentile(tpot, 50),
            "e2e_p50_s": percentile(e2e, 50), "e2e_p90_s": percentile(e2e, 90)}
