"""Pure-Python bookkeeping of the testbed engine: the paged KV block manager, vLLM-v0-like
admission (continuous batching, no chunked prefill) and the padded batch sizes that decode
CUDA graphs are captured for. No PyTorch here, so it is testable on any machine
(kernels/testbed/test_scheduling.py)."""
import collections
import dataclasses

# vLLM v0's _BATCH_SIZES_TO_CAPTURE: 1, 2, 4, then every multiple of 8 up to 256.
CAPTURE_BATCH_SIZES = [1, 2, 4] + list(range(8, 257, 8))

# Block 0 is never handed out: padded decode rows write their K/V there.
NULL_BLOCK = 0


def prefill_token_buckets(max_tokens):
    """Token counts that prefill CUDA graphs are captured for (one sequence each, padded up):
    16, 32, 64, then every 64 up to 2048, then every 256 up to `max_tokens`. Small prefills
    read the weights once whatever their length, so coarse steps cost little there; above a
    few hundred tokens the GEMMs are compute-bound and a step of 64 tokens wastes at most
    ~6% (~3% on average) at 1,000 tokens, 256 at most ~11% past 2,048."""
    buckets = [16, 32] + list(range(64, 2049, 64)) + list(range(2304, max_tokens + 1, 256))
    buckets = [b for b in buckets if b < max_tokens]
    return buckets + [max_tokens]


def padded_prefill_tokens(tokens, buckets):
    """The smallest bucket that holds a `tokens`-token prompt, or None (run eagerly)."""
    for size in buckets:
        if size >= tokens:
            return size
    return None


def padded_batch_size(batch, capture_sizes=CAPTURE_BATCH_SIZES):
    """The smallest captured batch size that holds `batch` sequences, or None (run eagerly)."""
    for size in capture_sizes:
        if size >= batch:
            return size
    return None


def blocks_for(tokens, block_size):
    return (tokens + block_size - 1) // block_size


class BlockManager:
    """Physical KV blocks of `block_size` tokens; block tables per sequence.

    Admission keeps `watermark_blocks` free (vLLM v0: 1% of the blocks) so that running
    sequences can grow by a block without immediate preemption."""

    def __init__(self, num_blocks, block_size, watermark=0.01):
        if num_blocks < 2:
            raise ValueError("a KV cache needs at least 2 blocks (block 0 is the null block)")
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.watermark_blocks = int(watermark * num_blocks)
        self.free_blocks = collections.deque(range(1, num_blocks))
        self.tables = {}

    def num_free(self):
        return len(self.free_blocks)

    def can_allocate(self, tokens):
        return self.num_free() - blocks_for(tokens, self.block_size) >= self.watermark_blocks

    def allocate(self, seq_id, tokens):
        need = blocks_for(tokens, self.block_size)
        if need > self.num_free():
            raise RuntimeError(f"sequence {seq_id}: {need} blocks needed, {self.num_free()} free")
        self.tables[seq_id] = [self.free_blocks.popleft() for _ in range(need)]
        return self.tables[seq_id]

    def can_append(self, seq_id, tokens_after):
        """Whether the sequence can hold `tokens_after` tokens (one more block at most)."""
        need = blocks_for(tokens_after, self.block_size) - len(self.tables[seq_id])
        return need <= self.num_free()

    def append(self, seq_id, tokens_after):
        table = self.tables[seq_id]
        while len(table) < blocks_for(tokens_after, self.block_size):
            table.append(self.free_blocks.popleft())
        return table

    def free(self, seq_id):
        self.free_blocks.extend(self.tables.pop(seq_id))

    def slot(self, seq_id, position):
        """(physical block, offset) of a token position of a sequence."""
        return self.tables[seq_id][position // self.block_size], position % self.block_size


@dataclasses.dataclass
class Sequence:
    seq_id: int
    prompt_tokens: int
    max_new_tokens: int
    arrival_s: float = 0.0
    generated: int = 0
    first_token_s: float = None
    last_token_s: float = None
    preemptions: int = 0
    received_s: float = None  # when the instance read the request (testbed worker)
    prefill_start_s: float = None  # when its first prefill step began

    @property
    def context(self):
        """Tokens whose K/V are in the cache once the last generated token is fed back
        (a prefill computes them all; a decode step feeds token context - 1)."""
        return self.prompt_tokens + self.generated

    def finished(self):
        return self.generated >= self.max_new_tokens


@dataclasses.dataclass
class Step:
    kind: str  # "prefill" or "decode"
    seqs: list


class Scheduler:
    """vLLM v0's default policy without chunked prefill: a step is either a batch of
    prefills (admitted first-come first-served while the token budget, the sequence cap and
    free blocks allow) or one decode token for every running sequence. When a running
    sequence needs a block and none is free, the most recently admitted one is preempted
    (its blocks freed, its tokens recomputed later: vLLM's RECOMPUTE mode)."""

    def __init__(self, blocks, max_num_seqs=256, max_num_batched_tokens=8192):
        self.blocks = blocks
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.waiting = collections.deque()
        self.running = []

    def add(self, seq):
        self.waiting.append(seq)

    def has_work(self):
        return bool(self.waiting or self.running)

    def schedule(self):
        prefills = []
        tokens = 0
        while self.waiting:
            seq = self.waiting[0]
            # A preempted sequence recomputes its prompt and the tokens it had generated.
            need = seq.context
            if need > self.max_num_batched_tokens and not prefills and not self.running:
                raise RuntimeError(f"sequence {seq.seq_id}: {need} prompt tokens exceed the "
                                   f"token budget {self.max_num_batched_tokens}")
            if (tokens + need > self.max_num_batched_tokens
                    or len(self.running) + len(prefills) >= self.max_num_seqs
                    or not self.blocks.can_allocate(need)):
                break
            self.waiting.popleft()
            self.blocks.allocate(seq.seq_id, need)
            prefills.append(seq)
            tokens += need
        if prefills:
            self.running.extend(prefills)
            return Step("prefill", prefills)
        if not self.running:
            return None
        # Every running sequence feeds back its last token, at position context - 1.
        kept = []
        queue = list(self.running)
        while queue:
            seq = queue.pop(0)
            while not self.blocks.can_append(seq.seq_id, seq.context):
                victim = queue.pop() if queue else seq
                self._preempt(victim)
                if victim is seq:
                    break
            else:
                self.blocks.append(seq.seq_id, seq.context)
                kept.append(seq)
        return Step("decode", kept) if kept else self.schedule()

    def _preempt(self, seq):
        self.running.remove(seq)
        self.blocks.free(seq.seq_id)
        seq.preemptions += 1
        self.waiting.appendleft(seq)

    def complete(self, step, now_s):
        """Records one token for each sequence of the step; frees the finished ones."""
        for seq in step.seqs:
            seq.generated += 1
            if seq.first_token_s is None:
                seq.first_token_s = now_s
            seq.last_token_s = now_s
        done = [s for s in step.seqs if s.finished()]
        for seq in done:
            self.running.remove(seq)
            self.blocks.free(seq.seq_id)
        return done
