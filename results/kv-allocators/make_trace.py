#!/usr/bin/env python3
"""Writes sharegpt_opt13b.csv: Poisson arrivals with ShareGPT request lengths, in the Azure LLM
2023 trace format that `slsim` reads (TIMESTAMP,ContextTokens,GeneratedTokens).

Lengths are drawn uniformly (with replacement) from traces/lengths/sharegpt_8k_filtered_stats_
llama2_tokenizer.csv, keeping the conversations whose prompt + output fit OPT-13B's 2048-token
context (14,568 of 30,731). Python's own random.Random with a fixed seed: the committed CSV is
the input of record; rerunning this script with the same Python reproduces it.
"""
import csv
import datetime
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
LENGTHS = os.path.join(HERE, "../../traces/lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv")
REQUESTS = 1000
RATE_PER_S = 20.0  # far above what one A100-40GB serves: the queue never drains
MAX_CONTEXT = 2048
SEED = 13


def main():
    with open(LENGTHS, newline="") as f:
        rows = [(int(r["num_prefill_tokens"]), int(r["num_decode_tokens"])) for r in csv.DictReader(f)]
    fitting = [(i, o) for i, o in rows if i + o <= MAX_CONTEXT and i >= 1 and o >= 1]
    rng = random.Random(SEED)
    start = datetime.datetime(2024, 1, 1)
    t = 0.0
    out = os.path.join(HERE, "sharegpt_opt13b.csv")
    with open(out + ".tmp", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
        for _ in range(REQUESTS):
            t += rng.expovariate(RATE_PER_S)
            prompt, output = rng.choice(fitting)
            stamp = (start + datetime.timedelta(microseconds=round(t * 1e6))).strftime("%Y-%m-%d %H:%M:%S.%f")
            w.writerow([stamp, prompt, output])
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
