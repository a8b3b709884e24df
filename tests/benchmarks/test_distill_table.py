"""benchmarks/distill/distill_table.py: which rows a command plans (seeds, ablation, extra term sets, resume)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "distill" / "distill_table.py"
_spec = importlib.util.spec_from_file_location("distill_table", _PATH)
dt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dt)

FAMILIES = {"pafnet": "pafnet", "anchor": "anchor"}


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"seeds": [0, 1], "ablate": False, "terms": [], **kw})


def test_rows_per_seed_and_ablation_on_the_first_seed():
    names = [r["name"] for r in dt._plan_rows(_args(ablate=True), FAMILIES)]
    assert names[:2] == ["alone_s0", "alone_s1"]
    assert {"kd_pafnet_s0", "kd_pafnet_s1", "kd_anchor_s0", "kd_anchor_s1"} <= set(names)
    assert {"kd_pafnet_no_hm_s0", "kd_pafnet_no_box_s0", "kd_pafnet_no_feat_s0", "kd_anchor_no_out_s0",
            "kd_anchor_no_feat_s0"} <= set(names)
    assert not any(n.endswith("_s1") and "_no_" in n for n in names)


def test_extra_terms_on_every_seed_skip_a_finished_row_with_the_same_terms():
    done = {"kd_anchor_no_feat_s0": {"family": "anchor", "terms": ["out"], "seed": 0, "rc": 0},
            "alone_s0": {"family": None, "terms": None, "seed": 0, "rc": 0}}
    rows = dt._plan_rows(_args(seeds=[0, 1, 2], terms=["anchor=out", "nosuch=feat"]), FAMILIES, done)
    names = [r["name"] for r in rows]
    assert "kd_anchor_out_s0" not in names  # the ablation row already has (anchor, out, seed 0)
    assert {"kd_anchor_out_s1", "kd_anchor_out_s2", "alone_s0", "alone_s2"} <= set(names)
    assert all(r["terms"] == ["out"] for r in rows if r["name"].startswith("kd_anchor_out"))
    assert not any("nosuch" in n for n in names)  # a family without a teacher plans nothing


@pytest.mark.parametrize("spec", ["nosuch=out", "anchor=ot", "anchor=", "anchor"])
def test_bad_terms_are_refused_naming_the_entry(spec):
    with pytest.raises(SystemExit, match=f"--terms {spec}: give FAMILY=T1,T2"):
        dt.check_terms(["pafnet=hm,feat", spec], {"pafnet", "anchor"})
    dt.check_terms(["pafnet=hm,feat", "anchor=out"], {"pafnet", "anchor"})  # good entries pass
