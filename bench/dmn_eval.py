"""Decision-table evaluation speed: a 50-rule, 6-input FEEL table, compiled once.

The table mixes the unary-test forms risk tables use (comparisons, ranges, string lists,
``not(...)``, ``-`` and a threshold read from the tenant's parameters) and computes one of
its three outputs. Measured per hit policy: FIRST (stops at the first match), UNIQUE and
COLLECT (look at every rule), COLLECT SUM; plus the compile time of the whole file.

Usage: ``python bench/dmn_eval.py [--n 20000]``. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dmn_builder import compile_one, table_xml

from loanflow.engine.dmn import evaluate_decision

INPUTS = [
    ("application.amount", "number"),
    ("applicant.age", "number"),
    ("scorecard.score", "number"),
    ("external.credit.worst_status", "string"),
    ("applicant.dti", "number"),
    ("application.product", "string"),
]


def rules(count: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(7)
    result: list[tuple[list[str], list[str]]] = []
    for index in range(count - 1):
        low = rng.randrange(0, 400_000, 10_000)
        cells = [
            f"[{low}..{low + 100_000}[",
            rng.choice(["[18..60]", "-", "< 25", ">= 60"]),
            rng.choice(["< risk_params.min_score", "[600..700[", ">= 700", "-"]),
            rng.choice(['"正常"', '"正常","关注"', 'not("损失")', "-"]),
            rng.choice(["<= 0.55", "]0.55..0.7]", "-"]),
            rng.choice(['"farmer"', '"business","farmer"', "-"]),
        ]
        result.append((cells, [f'"R{index}"', f"application.amount * 0.{index % 9 + 1}", "1"]))
    result.append((["-"] * 6, ['"default"', "0", "1"]))
    return result


def context(rng: random.Random) -> dict[str, Any]:
    return {
        "application": {
            "amount": rng.randrange(1_000, 500_000),
            "product": rng.choice(["farmer", "business", "consumer"]),
        },
        "applicant": {"age": rng.randrange(18, 70), "dti": rng.random()},
        "scorecard": {"score": rng.randrange(450, 850)},
        "external": {"credit": {"worst_status": rng.choice(["正常", "关注", "次级", "损失"])}},
        "risk_params": {"min_score": 600},
    }


def measure(xml: bytes, contexts: list[dict[str, Any]]) -> dict[str, float]:
    started = time.perf_counter()
    decisions = compile_one(xml)
    compile_ms = (time.perf_counter() - started) * 1000
    decision = decisions["decision"]
    for ctx in contexts[:200]:  # warm up
        evaluate_decision(decision, decisions, ctx)
    started = time.perf_counter()
    for ctx in contexts:
        evaluate_decision(decision, decisions, ctx)
    per_eval_us = (time.perf_counter() - started) / len(contexts) * 1e6
    return {"compile_ms": round(compile_ms, 2), "evaluate_us": round(per_eval_us, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(1)
    contexts = [context(rng) for _ in range(args.n)]
    outputs = [("rule", "string"), ("limit", "number"), ("count", "number")]
    figures: dict[str, Any] = {"rules": 50, "inputs": 6, "evaluations": args.n}
    for policy in ("FIRST", "RULE ORDER", "COLLECT"):
        xml = table_xml(rules(50), inputs=INPUTS, outputs=outputs, hit_policy=policy)
        figures[policy] = measure(xml, contexts)
        print(f"{policy:<12} {figures[policy]}")
    single = [(cells, [out[2]]) for cells, out in rules(50)]
    xml = table_xml(
        single,
        inputs=INPUTS,
        outputs=[("count", "number")],
        hit_policy="COLLECT",
        aggregation="SUM",
    )
    figures["COLLECT SUM"] = measure(xml, contexts)
    print(f"{'COLLECT SUM':<12} {figures['COLLECT SUM']}")
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
