"""The gallery's training (scripts/train_gallery.py, `nst_engine.evaluation.gallery_training`):
a network is judged against the optimisation on each held-out photograph and on their mean,
and --ship DIR copies the earliest network that met the bar into DIR, never a later or a
failing one, and never into the installed package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fast_models import random_style_model

from nst_engine import gallery
from nst_engine.evaluation import gallery_training, training_folder
from nst_engine.fast import TrainOptions
from nst_engine.images import load_image, save_image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _photo(folder: Path, name: str, source: str) -> Path:
    from nst_engine.arrays import resized

    path = folder / f"{name}.jpg"
    save_image(path, resized(load_image(EXAMPLES / source), 96))
    return path


def test_a_judgement_gives_each_photographs_ratio_and_the_bar_on_the_mean(tmp_path):
    work = tmp_path / "training" / "recipe"
    (work.parent / "reference").mkdir(parents=True)
    photos = [_photo(tmp_path, "cat", "chelsea.png"), _photo(tmp_path, "man", "astronaut.jpg")]
    model = tmp_path / "net.nstmodel"
    random_style_model("Starry", seed=4).save(model)
    # the optimisation's figures, as if computed before: a generous and a strict photograph
    reference = {
        "starry-night|cat.jpg|512": {"ssim": 0.7, "gmd": 10.0, "seconds": 1.0},
        "starry-night|man.jpg|512": {"ssim": 0.7, "gmd": 0.01, "seconds": 1.0},
    }
    (work.parent / "reference" / "reference.json").write_text(json.dumps(reference))

    row = gallery_training.judge(model, "starry-night", 1000, photos, work, "cpu")

    assert set(row["photos"]) == {"cat", "man"}
    ssims = [row["photos"][name][0] for name in ("cat", "man")]
    gmds = [row["photos"][name][1] for name in ("cat", "man")]
    assert row["ssim"] == pytest.approx(np.mean(ssims), abs=1e-3)
    assert row["gmd"] == pytest.approx(np.mean(gmds), abs=1e-3)
    assert row["photos"]["cat"][2] == pytest.approx(gmds[0] / 10.0, rel=1e-2)
    assert row["photos"]["man"][2] == pytest.approx(gmds[1] / 0.01, rel=1e-2)
    assert row["proposed_gmd"] == pytest.approx(5.005)
    expected = row["gmd"] <= 1.5 * 5.005 and row["ssim"] >= 0.45
    assert row["meets_bar"] is expected
    assert (work / "outputs" / "starry-night-cat-step1000.jpg").is_file()


def test_ship_copies_the_earliest_network_that_met_the_bar_into_the_folder_given(
    tmp_path, monkeypatch
):
    work, package = tmp_path / "recipe", tmp_path / "networks"
    work.mkdir()
    installed = tmp_path / "installed"
    monkeypatch.setattr(gallery, "network_folder", lambda: installed)
    rows = [(1000, False), (2000, True), (3000, True)]
    for seed, (step, _) in enumerate(rows, start=1):
        random_style_model(f"step {step}", seed=seed).save(work / f"great-wave.step{step}.nstmodel")
    with (work / "curve.jsonl").open("w") as fh:
        for step, met in rows:
            fh.write(json.dumps({"style": "great-wave", "step": step, "meets_bar": met}) + "\n")
        fh.write(json.dumps({"style": "the-kiss", "step": 1000, "meets_bar": True}) + "\n")

    assert training_folder.first_to_meet_the_bar(work, "great-wave")["step"] == 2000
    gallery_training.ship("great-wave", work, steps=3000, to=package)

    shipped = package / "great-wave.nstmodel"
    assert shipped.read_bytes() == (work / "great-wave.step2000.nstmodel").read_bytes()
    assert not installed.exists()  # the installed package is never written to


def test_ship_copies_nothing_when_no_judgement_met_the_bar(tmp_path, capsys):
    work, package = tmp_path / "recipe", tmp_path / "networks"
    work.mkdir()
    (work / "curve.jsonl").write_text(
        json.dumps({"style": "great-wave", "step": 1000, "meets_bar": False}) + "\n"
    )
    gallery_training.ship("great-wave", work, steps=1000, to=package)
    assert not package.exists()
    assert "great-wave: not shipped" in capsys.readouterr().out


def test_ctrl_c_stops_the_run_while_a_step_to_judge_only_pauses_it(tmp_path, monkeypatch):
    """The training loop raises TrainingInterrupted both when the script asks to judge and on
    Ctrl-C; only the first may resume training (a Ctrl-C once judged and went on)."""
    from types import SimpleNamespace

    from nst_engine import fast

    for folder in ("train", "held-out"):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        _photo(tmp_path / "photos" / folder, "cat", "chelsea.png")
    work = tmp_path / "work"
    work.mkdir()
    calls, judged = [], []

    def fake_train(painting, photos, output, options, progress, cancel):
        calls.append(len(calls))
        checkpoint = fast.checkpoint_path(output)
        for step in range(1, options.steps + 1):
            progress(SimpleNamespace(iteration=step - 1))
            ctrl_c = len(calls) == 2 and step == 1500
            if ctrl_c or cancel():
                raise fast.TrainingInterrupted(step, options.steps, checkpoint)
        raise AssertionError("the fake run is stopped before it ends")

    monkeypatch.setattr(gallery_training, "train_style", fake_train)
    monkeypatch.setattr(gallery_training, "model_from_checkpoint", lambda *a, **k: None)
    monkeypatch.setattr(
        gallery_training,
        "judge",
        lambda snap, style, step, *a: judged.append(step) or {"meets_bar": False},
    )
    monkeypatch.setattr(gallery_training, "contact_sheet", lambda *a: None)
    options = TrainOptions(steps=4000, size=64, batch_size=1, width=8, device="cpu",
                           checkpoint_every=1000)  # fmt: skip

    with pytest.raises(SystemExit, match="stopped at step 1500; the same command resumes"):
        gallery_training.train_one("starry-night", options, tmp_path / "photos", work, [])

    assert judged == [1000]  # judged at its step, then trained on; not judged at the Ctrl-C
    assert len(calls) == 2


def test_a_network_passing_on_the_judged_photographs_must_pass_on_every_held_out_one(
    tmp_path, monkeypatch
):
    judged, everyone = [Path("a.jpg"), Path("b.jpg")], [Path(f"{n}.jpg") for n in "abcd"]
    calls = []

    def fake_judge(model, style, step, photos, work, device):
        calls.append(len(photos))
        passes = len(photos) == 2 or step == 2000  # step 1000 passes on two photographs only
        return {"ssim": 0.5, "gmd": 0.3, "proposed_ssim": 0.6, "proposed_gmd": 0.25,
                "gmd_ratio": 1.2, "meets_bar": passes}  # fmt: skip

    monkeypatch.setattr(gallery_training, "judge", fake_judge)
    at = {step: gallery_training.judgement(Path("m"), "s", step, judged, everyone, tmp_path, "cpu")
          for step in (1000, 2000)}  # fmt: skip

    assert calls == [2, 4, 2, 4]
    assert at[1000]["meets_bar"] is False and at[1000]["all_held_out"]["meets_bar"] is False
    assert at[2000]["meets_bar"] is True
    monkeypatch.setattr(gallery_training, "judge", lambda *a: {"meets_bar": False})
    assert "all_held_out" not in gallery_training.judgement(
        Path("m"), "s", 3000, judged, everyone, tmp_path, "cpu"
    )


def test_the_command_ships_only_into_a_folder_it_is_given(tmp_path):
    parser = gallery_training.build_parser()
    assert parser.parse_args([]).ship is None  # no --ship: nothing is copied anywhere
    assert parser.parse_args(["--ship", str(tmp_path)]).ship == tmp_path
    with pytest.raises(SystemExit):
        parser.parse_args(["--ship"])  # a folder must be named
