"""Photographs at full resolution: a large layer comes back at its own size and sharp, through
the server; the stroke size is a control of its own; tiles leave no seam; the memory plan
changes or refuses what does not fit; running out of memory never takes the server down."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from nst_proto.client import StyleClient
from nst_proto.job import JobFailed, JobRequest
from test_server_e2e import EXAMPLES, STYLE_BYTES, free_port

from nst_engine import StyleOptions, memory, stylize
from nst_engine import api as engine_api
from nst_engine.arrays import luminance, split_channels
from nst_engine.errors import InputError, NSTError
from nst_engine.fullres import refine_plan
from nst_engine.images import load_image
from nst_engine.metrics import gram_differences, mean_gram_difference, sharpness_ratio
from nst_engine.tiles import blend_weights, plan_tiles
from nst_engine.transfer import planned
from nst_engine.workspace import Workspace

SHARPNESS_FLOOR = 0.8


def photo_mosaic(height: int, width: int) -> np.ndarray:
    """A large photograph-like image with real detail everywhere: the example photographs at
    their own resolution, mirrored side by side (no upsampling, which would blur it)."""
    tiles = [load_image(EXAMPLES / name)[..., :3] for name in ("chelsea.png", "rocket.jpg")]
    rows, y, index = [], 0, 0
    while y < height:
        row, x = [], 0
        tile_height = min(t.shape[0] for t in tiles)
        while x < width:
            tile = tiles[index % 2][:tile_height]
            row.append(tile if index % 3 else tile[:, ::-1])
            x += tile.shape[1]
            index += 1
        rows.append(np.concatenate(row, axis=1)[:, :width])
        y += tile_height
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:height])


def ellipse_mask(height: int, width: int, feather: float = 0.08) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    r = np.sqrt(((y - height / 2) / (0.4 * height)) ** 2 + ((x - width / 2) / (0.4 * width)) ** 2)
    return np.clip((1 - r) / feather, 0, 1).astype(np.float32)


@pytest.mark.slow
def test_a_3000x2000_layer_comes_back_full_size_and_sharp_through_the_server():
    from nst_server.app import StyleServer

    content = photo_mosaic(2000, 3000)
    mask = ellipse_mask(2000, 3000)
    srv = StyleServer(f"127.0.0.1:{free_port()}", device="cpu", warm=False)
    srv.start()
    try:
        request = JobRequest(
            content.tobytes(), 3000, 2000, 3, "u8", [(STYLE_BYTES, 1.0)],
            mask=(mask * 255).round().astype(np.uint8).tobytes(),
            options={"quality": "draft", "iterations": 12},
        )  # fmt: skip
        tic = time.monotonic()
        with StyleClient(srv.address, 900) as client:
            result = client.stylize(request)
        seconds = time.monotonic() - tic
    finally:
        srv.stop(grace=1)
    image = np.frombuffer(result.pixels, np.uint8).reshape(2000, 3000, 3)
    outside, inside = mask == 0, mask == 1
    box = np.ix_(inside.any(axis=1), inside.any(axis=0))  # the styled part's bounding box
    sharp = sharpness_ratio(image[box], content[box])
    changed = np.abs(image[inside].astype(int) - content[inside]).mean()
    print(
        f"3000x2000 draft through the server: {seconds:.0f} s, work "
        f"{result.stats['work_size']}, {result.stats['full_resolution']}; sharpness "
        f"{sharp:.2f}, mean change inside {changed:.1f}"
    )
    assert (result.width, result.height) == (3000, 2000), "the layer's own size comes back"
    assert result.stats["full_resolution"] == "detail"
    assert np.array_equal(image[outside], content[outside]), "outside the mask: bit for bit"
    assert changed > 8, "inside the mask it is styled"
    assert sharp >= SHARPNESS_FLOOR, "not an upsampled blur"


@pytest.mark.slow
def test_before_this_an_upsampled_painting_was_a_blur(starry):
    """What the sharpness figure tells apart: a painting made at a small working size and
    simply upsampled (what the engine returned before) is far below the floor; with the
    photograph's detail put back it is above it."""
    from nst_engine.arrays import from_float, resize_tensor, to_numpy, to_tensor
    from nst_engine.fullres import add_detail

    photo = photo_mosaic(600, 900)
    full = to_tensor(split_channels(photo)[0])
    small = from_float(to_numpy(resize_tensor(full, (107, 160))), np.uint8)
    painting = stylize(small, starry, options=StyleOptions(iterations=6, device="cpu")).image
    painting = to_tensor(split_channels(painting)[0])
    blurred = to_numpy(resize_tensor(painting, full.shape[-2:]))
    detailed = to_numpy(add_detail(painting, full))
    assert sharpness_ratio(blurred, photo) < 0.6 < SHARPNESS_FLOOR
    assert sharpness_ratio(detailed, photo) >= SHARPNESS_FLOOR


@pytest.mark.slow
def test_stroke_size_changes_the_strokes_not_the_resolution(content_256, starry_whole):
    """The same image at two stroke sizes: each result matches the style best at its own
    scale (GMD at the stroke scale), and both keep the image's size."""
    results = {}
    for scale in (0.5, 2.0):
        options = StyleOptions(style_scale=scale, iterations=40, quality="draft", device="cpu")
        results[scale] = stylize(content_256, starry_whole, options=options).image
        assert results[scale].shape == content_256.shape

    def gmd(image, scale):
        return mean_gram_difference(gram_differences(image, starry_whole, scale))

    assert gmd(results[0.5], 0.5) < gmd(results[2.0], 0.5)
    assert gmd(results[2.0], 2.0) < gmd(results[0.5], 2.0)
    with pytest.raises(InputError, match="stroke size"):
        StyleOptions(style_scale=9).validate()


def seam_ratio(image: np.ndarray, positions: list[int], axis: int) -> float:
    """The largest jump of the gradient across a line at the given columns (axis 1) or rows
    (axis 0) over the gradient of the lines 2 to 6 pixels either side: about 1 where nothing
    changes at the line, well above 1 at a seam."""
    y = luminance(split_channels(image)[0])
    grad = np.abs(np.diff(y, axis=axis)).mean(axis=1 - axis)  # one figure per line
    ratios = []
    for at in positions:
        near = [grad[i] for i in (*range(at - 6, at - 1), *range(at + 2, at + 7))
                if 0 <= i < len(grad)]  # fmt: skip
        ratios.append(grad[at] / np.mean(near))
    return float(max(ratios))


@pytest.mark.slow
def test_refined_tiles_leave_no_seam(monkeypatch, starry):
    monkeypatch.setattr(engine_api, "MAX_TILE_SIDE", 128)
    photo = photo_mosaic(300, 420)
    options = StyleOptions(
        size=160, iterations=8, quality="draft", full_resolution="refine", device="cpu"
    )
    result = stylize(photo, starry, options=options, workspace=Workspace("cpu"))
    tiles = plan_tiles(300, 420, 128, 32)
    assert len(tiles) > 4 and "refine_420x300_" in " ".join(result.stats)
    # the start, the middle and the end of every overlap: without blending a seam sits there
    columns = sorted({t.left + d for t in tiles if t.left > 0 for d in (0, 16, 31)})
    rows = sorted({t.top + d for t in tiles if t.top > 0 for d in (0, 16, 31)})
    across = max(seam_ratio(result.image, columns, 1), seam_ratio(result.image, rows, 0))
    print(f"refined in {len(tiles)} tiles; gradient jump at the overlaps: {across:.2f}")
    assert across < 1.25
    # the measure sees a seam: a step of 6 levels at one of those columns
    stepped = result.image.astype(int)
    stepped[:, columns[1] + 1 :] += 6
    assert seam_ratio(np.clip(stepped, 0, 255).astype(np.uint8), columns, 1) > 1.5


@pytest.mark.slow
def test_progress_counts_pixels_so_the_time_left_holds_at_full_size(monkeypatch, starry):
    """An iteration on a full-size tile costs many at the working size: the share of the work
    done (what the time left is extrapolated from) counts each iteration's pixels."""
    monkeypatch.setattr(engine_api, "MAX_TILE_SIDE", 128)
    photo = photo_mosaic(200, 300)
    options = StyleOptions(
        size=96, iterations=6, quality="draft", full_resolution="refine", device="cpu"
    )
    seen = []
    stylize(photo, starry, options=options, progress=seen.append, workspace=Workspace("cpu"))
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    refining = [p for p in seen if p.level == p.levels - 1]
    tiles = refine_plan(200, 300, 128)
    refined = sum(t.height * t.width for t in tiles) * len(refining) // len(tiles)
    painted = planned(options.method, 64, 96, options).pixels
    share_by_work = 1.0 - seen[-len(refining) - 1].fraction
    assert share_by_work == pytest.approx(refined / (refined + painted))
    # 128-pixel tiles have 2.7 times the pixels of the 96x64 working image
    assert share_by_work > len(refining) / seen[-1].total_steps + 0.1


def test_blend_weights_hand_over_across_the_overlap():
    tiles = plan_tiles(100, 300, 128, 32)
    total = np.zeros((100, 300))
    for tile in tiles:
        total[tile.top : tile.top + tile.height, tile.left : tile.left + tile.width] += (
            blend_weights(tile, 100, 300, 32)[0, 0].numpy()
        )
    assert total.min() > 0.5 and np.allclose(total[:, :90], 1.0)


def test_a_plan_that_does_not_fit_shrinks_or_is_refused(monkeypatch, content_256, starry):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1_080 << 20)
    fits = memory.largest_side(torch.device("cpu"), 256 / 170)  # content_256 is 256x170
    assert 128 <= fits < 256
    auto = stylize(content_256, starry, options=StyleOptions(iterations=2, device="cpu"))
    assert int(auto.stats["work_size"].split("x")[0]) <= fits < 256, auto.stats["work_size"]
    assert auto.image.shape == content_256.shape
    with pytest.raises(InputError, match=rf"use a working size of {fits} pixels or less"):
        stylize(content_256, starry, options=StyleOptions(size=256, iterations=2, device="cpu"))


@pytest.mark.slow
def test_running_out_of_memory_while_refining_retries_with_smaller_tiles(monkeypatch, starry):
    from nst_engine import fullres

    real, sides = fullres.refine_tiles, []

    def tight(ctx, content, start, mask, tile_side):
        sides.append(tile_side)
        if tile_side > 300:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(ctx, content, start, mask, tile_side)

    monkeypatch.setattr(engine_api, "refine_tiles", tight)
    monkeypatch.setattr(engine_api, "MAX_TILE_SIDE", 400)
    photo = photo_mosaic(300, 400)
    options = StyleOptions(
        size=96, iterations=4, quality="draft", full_resolution="refine", device="cpu"
    )
    result = stylize(photo, starry, options=options)
    assert sides == [400, 200] and result.stats["seconds_refine_retried_with_tile"] == 200
    monkeypatch.setattr(engine_api, "MAX_TILE_SIDE", 1024)
    sides.clear()
    monkeypatch.setattr(engine_api, "refine_tiles", lambda *a: (_ for _ in ()).throw(MemoryError()))
    with pytest.raises(NSTError, match="ran out of memory refining at full resolution"):
        stylize(photo, starry, options=options)


def test_an_out_of_memory_job_leaves_the_server_serving():
    from nst_server.app import StyleServer
    from nst_server.engine import WorkspaceEngine

    calls = []

    class OutOfMemoryOnce(WorkspaceEngine):  # the real adapter's error mapping
        def __call__(self, work, progress, cancel):
            calls.append(1)
            if len(calls) == 1:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB")
            return work.content, {"device": "cpu"}

    engine = OutOfMemoryOnce("cpu")
    srv = StyleServer(f"127.0.0.1:{free_port()}", device="cpu", engine=engine, warm=False)
    srv.start()
    try:
        request = JobRequest(bytes(64 * 48 * 3), 64, 48, 3, "u8", [(STYLE_BYTES, 1.0)])
        with StyleClient(srv.address, 60) as client:
            with pytest.raises(JobFailed) as failed:
                client.stylize(request)
            assert failed.value.code == "RESOURCE_EXHAUSTED"
            assert "ran out of memory" in failed.value.message
            assert client.stylize(request).width == 64, "the next job runs"
    finally:
        srv.stop(grace=1)
