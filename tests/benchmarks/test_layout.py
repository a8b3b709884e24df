"""benchmarks/: every path the docs name exists, every recorded file is documented, run_all covers every folder."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
_spec = importlib.util.spec_from_file_location("benchmarks_run_all", BENCH / "run_all.py")
run_all = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = run_all  # dataclasses look their module up there
_spec.loader.exec_module(run_all)

_EXT = r"(?:py|json|md|png|csv|jsonl)"
TOP_FILES = {"README.md", "run_all.py"}


def _topic_dirs() -> set[str]:
    return {p.name for p in BENCH.iterdir() if p.is_dir() and p.name != "__pycache__"}


def _recorded_files() -> list[Path]:
    return sorted(p for p in BENCH.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.relative_to(BENCH).as_posix() not in TOP_FILES)


def test_paths_named_in_the_docs_and_configs_exist():
    named = []
    for doc in [ROOT / "README.md", BENCH / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "models").glob("*.yaml")]:
        named += re.findall(rf"(?<![\w/])benchmarks/[\w./-]+?\.{_EXT}\b", doc.read_text())
    bench_text = (BENCH / "README.md").read_text()
    named += ["benchmarks/" + p for p in re.findall(rf"(?<=`)([\w-]+/[\w.-]+\.{_EXT})(?=`)", bench_text)]
    assert len(named) > 30  # the regexes still find the references
    assert [p for p in named if not (ROOT / p).is_file()] == []


def test_every_recorded_file_is_in_a_topic_folder_and_documented():
    text = (BENCH / "README.md").read_text()
    files = _recorded_files()
    assert len(files) >= 22
    assert [p.name for p in files if p.parent == BENCH] == []  # nothing loose at the top
    assert [p.relative_to(BENCH).as_posix() for p in files if p.relative_to(BENCH).as_posix() not in text] == []


def test_run_all_covers_every_folder_and_its_scripts_exist():
    assert _topic_dirs() <= set(run_all.TOPICS)
    for name, topic in run_all.TOPICS.items():
        assert (BENCH / name).is_dir(), name
        scripts = [c[0] for c in topic.commands if c[0].endswith(".py")]
        assert all((ROOT / s).is_file() and s.startswith(f"benchmarks/{name}/") for s in scripts), (name, scripts)


def test_index_lists_every_folder():
    index = (BENCH / "README.md").read_text().split("\n## ", 1)[0]
    assert [n for n in run_all.TOPICS if f"[`{n}/`]({n}/)" not in index] == []


def test_scripts_import_the_package_not_each_other():
    for script in BENCH.rglob("*.py"):
        text = script.read_text()
        assert "sys.path" not in text and "_machine" not in text, script


def test_list_prints_commands_and_missing_inputs(capsys):
    assert run_all.main(["--list", "--only", "pafnet", "--only", "two_stage"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == ["    python benchmarks/pafnet/pafnet_fidelity.py", "    python benchmarks/pafnet/pafnet_latency.py"]
    assert lines[3].startswith("two_stage  (benchmarks/two_stage/)")
    ckpt = "runs/bench_train/libra_faster_rcnn_r18_fpn/Libra/weights/best.pt"
    assert lines[4] == f"    python benchmarks/two_stage/two_stage_latency.py --ckpt {ckpt}"
    state = "present" if (ROOT / ckpt).exists() else "missing"
    assert lines[5].startswith(f"    needs {ckpt} ({state})")


def test_missing_inputs_relative_to_the_root(tmp_path):
    topic = run_all.TOPICS["two_stage"]
    assert run_all.missing_inputs(topic, tmp_path) == list(topic.needs)
    (tmp_path / topic.needs[0]).parent.mkdir(parents=True)
    (tmp_path / topic.needs[0]).write_bytes(b"")
    assert run_all.missing_inputs(topic, tmp_path) == []
