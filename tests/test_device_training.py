"""What a training call on a lent GPU machine sends back (scripts/device_train.py, packing
with `training_folder.pack`): the machine is bare after the call, so what is not in
$OUT/training.tar is lost, and $OUT takes 16 MB a file: every style's best network, and no
pile of snapshots or checkpoints."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from nst_engine.evaluation import training_folder


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(name.encode())


def test_a_finished_network_wins_over_its_snapshots_and_an_unfinished_one_sends_its_latest(
    tmp_path,
):
    touch(
        tmp_path,
        "shipwreck.nstmodel", "shipwreck.step250.nstmodel", "shipwreck.step4000.nstmodel",
        "the-kiss.step250.nstmodel", "the-kiss.step1000.nstmodel", "the-kiss.step750.nstmodel",
        "the-kiss.step1250.nstmodel",  # written as the time ran out, never judged
    )  # fmt: skip
    judged = [("shipwreck", 250), ("the-kiss", 250), ("the-kiss", 750), ("the-kiss", 1000)]
    curve = [json.dumps({"style": style, "step": step}) for style, step in judged]
    (tmp_path / "curve.jsonl").write_text("\n".join(curve) + "\n")
    chosen = [p.name for p in training_folder.latest_models(tmp_path)]
    assert chosen == ["shipwreck.nstmodel", "the-kiss.step1000.nstmodel"]


def test_the_pack_holds_networks_curve_and_sheets_only(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    out.mkdir()
    touch(
        work,
        "starry-night.step500.nstmodel", "starry-night.step250.nstmodel",
        "starry-night.nstmodel.ckpt", "starry-night-sheet.jpg",
    )  # fmt: skip
    rows = [json.dumps({"style": "starry-night", "step": step}) for step in (250, 500)]
    (work / "curve.jsonl").write_text("\n".join(rows) + "\n")
    (work / "outputs").mkdir()
    touch(work / "outputs", "starry-night-photo-step500.jpg")
    packed = training_folder.pack(work, out)
    with tarfile.open(packed) as tar:
        assert sorted(tar.getnames()) == [
            "curve.jsonl",
            "starry-night-sheet.jpg",
            "starry-night.step500.nstmodel",
        ]
        assert tar.extractfile("starry-night-sheet.jpg").read() == b"starry-night-sheet.jpg"
