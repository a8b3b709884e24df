"""benchmarks/fidelity/paper_claims.py: the verdict rule that turns two seeds per row into reproduced / reversed /
inconclusive, and the table it prints from the recorded runs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
_spec = importlib.util.spec_from_file_location("benchmarks_paper_claims", BENCH / "fidelity" / "paper_claims.py")
claims = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = claims
_spec.loader.exec_module(claims)


def test_verdict_on_paired_seed_differences():
    # +0.02, +0.01: mean 0.015 > spread 0.01 -> reproduced
    assert claims.verdict({0: 0.05, 1: 0.04}, {0: 0.03, 1: 0.03})[0] == "reproduced"
    # -0.011, -0.015: mean -0.013, spread 0.004 -> reversed
    assert claims.verdict({0: 0.0354, 1: 0.0293}, {0: 0.0465, 1: 0.0444})[0] == "reversed"
    # +0.01, +0.03: mean 0.02 = spread 0.02 -> not more than the spread
    v, diffs = claims.verdict({0: 0.08, 1: 0.11}, {0: 0.07, 1: 0.08})
    assert v.startswith("inconclusive") and [round(d, 4) for d in diffs] == [0.01, 0.03]
    # the seeds disagree
    assert claims.verdict({0: 0.05, 1: 0.04}, {0: 0.04, 1: 0.05})[0].startswith("inconclusive")
    # nothing learned on either side
    assert claims.verdict({0: 0.001, 1: 0.002}, {0: 0.003, 1: 0.001})[0] == "inconclusive (both near zero)"
    assert claims.verdict({0: 0.05}, {0: 0.03})[0] == "ahead (one seed, no spread)"
    assert claims.verdict({}, {0: 0.03})[0] == "not run"


def test_recorded_table_has_every_row_and_claim_with_two_seeds():
    state = json.loads((BENCH / "fidelity" / "paper_claims.json").read_text())
    seeds = {}
    for run in state["runs"].values():
        seeds.setdefault(run["row"], set()).add(run["seed"])
    assert seeds == {label: {0, 1} for label in claims.ROWS}
    table = claims.markdown(state)
    assert all(text in table for _, _, text in claims.CLAIMS) and "not run" not in table
