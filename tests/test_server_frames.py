"""A job of several frames (an animation) through a real in-process server, on both clients
(grpcio's nst_proto.client and the plug-in's grpclib nst_proto.pure_client), with a fake
engine whose frames end when the test says: each frame's result reaches the client while the
next frame is still being painted, in order, with progress over the whole sequence; cancel
between frames; every refusal (a content stream of the wrong length, the frames limit, a
method that cannot style frames together) comes before the engine is called. The last test
runs the real engine on three tiny masked frames (slow)."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
from fake_engine import WAIT, FakeEngine
from nst_proto import style_pb2 as pb
from nst_proto import style_pb2_grpc
from nst_proto.job import JobCancelled, JobRequest, ResultReader
from nst_server.app import StyleServer
from nst_server.jobs import Job, Limits, Plan, Scheduler
from test_scheduler import STYLE

from nst_engine.options import StyleOptions

TRANSPORTS = {"grpcio": "nst_proto.client", "grpclib": "nst_proto.pure_client"}
WIDTH, HEIGHT, FRAMES = 48, 40, 3
LIMIT = 10 * WIDTH * HEIGHT  # the test server's max_sequence_pixels: ten frames
STYLE_PATH = Path(__file__).resolve().parent.parent / "examples" / "starry_night.jpg"


@pytest.fixture(params=sorted(TRANSPORTS))
def client_class(request):
    return importlib.import_module(TRANSPORTS[request.param]).StyleClient


@pytest.fixture()
def fake():
    return FakeEngine(hold=True)


@pytest.fixture()
def server(fake):
    limits = Limits(max_queue=1, max_sequence_pixels=LIMIT)
    srv = StyleServer("127.0.0.1:0", device="cpu", limits=limits, engine=fake, warm=False)
    srv.start()
    yield srv
    for call in fake.calls:  # nothing left waiting on a gate
        call.gate.set()
    srv.stop(grace=1)


def frames(count: int = FRAMES) -> np.ndarray:
    """`count` frames of one grey each (frame i is 10 + 40 i), so each result is known."""
    values = 10 + 40 * np.arange(count, dtype=np.uint8)
    return np.broadcast_to(values[:, None, None, None], (count, HEIGHT, WIDTH, 3)).copy()


def request(count: int = FRAMES, method: str = "", **fields) -> JobRequest:
    options = {"iterations": 5, "preview_max_side": 16, "preview_interval": 0.001}
    return JobRequest(
        frames(count).tobytes(), WIDTH, HEIGHT, 3, "u8", [(STYLE, 1.0)],
        options={**options, "method": method}, frames=count, **fields,
    )  # fmt: skip


class Sequence:
    """A job of several frames run by a client in a thread of its own; `log` is what the
    caller saw, in order: ("event", kind, frame) and ("frame", index)."""

    def __init__(self, client_class, address: str, cancel=None, **fields) -> None:
        self.log: list[tuple] = []
        self.results: dict[int, bytes] = {}
        self.progress: list = []
        self.arrived = [threading.Event() for _ in range(FRAMES)]
        self.error: Exception | None = None

        def on_event(event) -> None:
            self.log.append(("event", event.kind, event.frame))
            if event.kind == "progress":
                self.progress.append(event)

        def on_frame(index, result) -> None:
            self.log.append(("frame", index))
            self.results[index] = result.pixels
            self.arrived[index].set()

        def run() -> None:
            try:
                with client_class(address) as client:
                    job = request(**fields)
                    client.stylize_frames(job, on_frame, on_event=on_event, cancel=cancel)
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                self.error = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def wait_frame(self, index: int) -> None:
        assert self.arrived[index].wait(WAIT), f"frame {index} never reached the client"

    def end(self) -> Exception | None:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        return self.error


def test_each_frame_arrives_in_order_while_the_next_is_painted(client_class, server, fake):
    job = Sequence(client_class, server.address)
    for index in range(FRAMES):
        call = fake.next_call()
        assert call.work.frames is None and call.work.content[0, 0, 0] == 10 + 40 * index
        if index:  # the frame before reached the client while this one is being painted
            assert job.arrived[index - 1].is_set() and not call.gate.is_set()
        assert not job.arrived[index].is_set()
        call.finish()
        job.wait_frame(index)
    assert job.end() is None
    assert sorted(job.results) == [0, 1, 2]
    for index, pixels in job.results.items():  # the fake's 255 - x of each frame
        assert set(pixels) == {255 - (10 + 40 * index)}
    frame_order = [entry[1] for entry in job.log if entry[0] == "frame"]
    assert frame_order == [0, 1, 2]
    # every frame's events come before its result, and its result before the next frame's
    per_frame = [entry[2] for entry in job.log if entry[0] == "event" and entry[1] != "queued"]
    assert per_frame == sorted(per_frame)
    assert job.log.index(("frame", 0)) < job.log.index(("event", "progress", 1))
    # previews (at most one a millisecond here) say the frame being painted
    events = [entry for entry in job.log if entry[0] == "event"]
    previews = [i for i, entry in enumerate(events) if entry[1] == "preview"]
    assert previews and all(events[i - 1][1:] == ("progress", events[i][2]) for i in previews)
    # progress over the whole sequence: one step per frame here, three in all
    steps = [(p.frame, p.frames, p.step, p.total_steps) for p in job.progress]
    assert steps == [(0, 3, 1, 3), (1, 3, 2, 3), (2, 3, 3, 3)]
    assert job.progress[-1].fraction == pytest.approx(1.0)
    assert [p.fraction for p in job.progress] == sorted(p.fraction for p in job.progress)
    assert len(fake.sequences) == 1 and fake.sequences[0].temporal


def test_independent_frames_reach_the_engine_as_independent(client_class, server, fake):
    fake.hold = False
    job = Sequence(client_class, server.address, independent=True)
    assert job.end() is None and len(job.results) == FRAMES
    assert not fake.sequences[0].temporal


def test_cancel_between_frames_ends_the_job_and_the_server_takes_the_next(
    client_class, server, fake
):
    stop = threading.Event()
    job = Sequence(client_class, server.address, cancel=stop.is_set)
    fake.next_call().finish()
    job.wait_frame(0)
    painting = fake.next_call()  # frame 1 runs; the client cancels
    stop.set()
    assert isinstance(job.end(), JobCancelled)
    assert painting.gate.wait(0) is False and len(fake.calls) == 2, "frame 2 was begun"
    assert sorted(job.results) == [0]
    fake.hold = False  # the next job runs
    with client_class(server.address) as client:
        result = client.stylize(JobRequest(frames(1).tobytes(), WIDTH, HEIGHT, 3, "u8",
                                           [(STYLE, 1.0)]))  # fmt: skip
    assert set(result.pixels) == {245}


def raw(address: str, messages: list) -> tuple[str, str]:
    """A Stylize call of these messages: the status it ends with, and its details."""
    with grpc.insecure_channel(address) as channel:
        stub = style_pb2_grpc.StyleServiceStub(channel)
        try:
            list(stub.Stylize(iter(messages), timeout=WAIT))
            return "OK", ""
        except grpc.RpcError as exc:
            return exc.code().name, exc.details() or ""


def sequence_messages(count: int, content: bytes, *, submit: bool = True) -> list:
    """A JobSpec of `count` frames and `content` as the content stream."""
    messages = list(request(1).messages())  # one frame's spec, style chunks and Submit
    spec = messages[0].spec
    spec.frames = count
    chunks = [
        pb.StylizeRequest(chunk=pb.Chunk(stream=pb.STREAM_CONTENT, offset=offset, data=part))
        for offset, part in ((o, content[o : o + 4096]) for o in range(0, len(content), 4096))
    ]
    styles = [m for m in messages if m.HasField("chunk") and m.chunk.stream == pb.STREAM_STYLE]
    return [messages[0], *chunks, *styles, *([messages[-1]] if submit else [])]


@pytest.mark.parametrize("sent", [2, 4], ids=["short", "long"])
def test_a_content_stream_of_the_wrong_length_is_refused_before_the_engine(server, fake, sent):
    code, details = raw(server.address, sequence_messages(FRAMES, frames(sent).tobytes()))
    assert code == "INVALID_ARGUMENT"
    assert f"3 frames of {WIDTH}x{HEIGHT}x3 u8" in details, details
    assert fake.calls == [] and fake.sequences == []


def test_the_client_refuses_frames_that_do_not_add_up_before_sending():
    with pytest.raises(ValueError, match="3 frames of 48x40x3 u8 needs"):
        JobRequest(frames(2).tobytes(), WIDTH, HEIGHT, 3, "u8", [(STYLE, 1.0)], frames=3).spec()
    with pytest.raises(ValueError, match="stylize_frames"):
        from nst_proto.client import StyleClient

        StyleClient("127.0.0.1:1").stylize(request())


def test_the_sequence_limit_is_refused_by_the_spec_alone(server, fake, client_class):
    """The JobSpec, with no pixel sent: refused at once, and the estimate says why."""
    code, details = raw(server.address, sequence_messages(11, b"", submit=False))
    assert code == "INVALID_ARGUMENT"
    assert "11 frames of 48x40" in details and f"limit of {LIMIT:,}" in details
    with client_class(server.address) as client:
        assert (
            "over the server's limit"
            in client.estimate(WIDTH, HEIGHT, styles=[(STYLE, 1.0)], frames=11).refused
        )
        assert client.info().limits["max_sequence_pixels"] == LIMIT
    assert fake.calls == []


def test_gatys_frames_together_are_refused_and_alone_run(server, fake, client_class):
    fake.hold = False
    with client_class(server.address) as client:
        refused = client.estimate(
            WIDTH, HEIGHT, styles=[(STYLE, 1.0)], options={"method": "gatys"}, frames=3
        ).refused
        assert "proposed method or a trained model" in refused
        alone = client.estimate(
            WIDTH, HEIGHT, styles=[(STYLE, 1.0)], options={"method": "gatys"}, frames=3,
            independent=True,
        )  # fmt: skip
        assert alone.refused == ""
    job = Sequence(client_class, server.address, method="gatys", independent=True)
    assert job.end() is None and len(job.results) == FRAMES
    assert fake.sequences[0].options.method == "gatys" and not fake.sequences[0].temporal


def test_the_estimate_counts_later_frames_at_the_engines_share():
    engine = FakeEngine(hold=False)
    engine.plan_result = Plan(1000, 64, 48, later_frame=0.5)
    scheduler = Scheduler(Limits(), "cpu", engine)
    try:
        scheduler.speed.record({"planned_pixels": 1000, "seconds": 2.0})
        options = StyleOptions()
        one = scheduler.estimate(64, 48, options, "").seconds
        assert one == pytest.approx(2.0)
        assert scheduler.estimate(64, 48, options, "", 5).seconds == pytest.approx(2.0 * 3)
        independent = scheduler.estimate(64, 48, options, "", 5, temporal=False)
        assert independent.seconds == pytest.approx(2.0 * 5)
    finally:
        scheduler.close()


def test_a_result_reader_refuses_frames_out_of_order():
    reader = ResultReader(on_frame=lambda index, result: None, frames=2)
    reader.take(pb.StylizeEvent(finished=pb.Finished(byte_size=1, frame=0, frames=2)))
    with pytest.raises(Exception, match="frame 1's result while frame 0's was due"):
        reader.take(pb.StylizeEvent(finished=pb.Finished(byte_size=1, frame=1, frames=2)))


def test_a_job_of_frames_in_the_servers_log_line(fake):
    """describe() names the frames, so the log says what ran."""
    job = Job(frames(1)[0], None, [STYLE], StyleOptions(), frames=frames(), independent=True)
    assert job.describe().startswith("frames=3 independent 48x40x3")


@pytest.mark.slow
def test_the_real_engine_paints_three_masked_frames_and_keeps_the_rest_bit_for_bit():
    """Three 64-pixel frames of a camera pan through the real WorkspaceEngine (temporal,
    a few iterations): each comes back painted inside the mask and, outside it, exactly
    the source's pixels; progress ends at the last step of the whole sequence."""
    from nst_server.engine import WorkspaceEngine

    from nst_engine.arrays import resized
    from nst_engine.images import load_image

    photo = resized(load_image(STYLE_PATH.parent / "chelsea.png"), 72)  # 72 x 48
    pan = np.stack([photo[:, 2 * i : 2 * i + 64] for i in range(FRAMES)])  # 3 x 48 x 64 x 3
    mask = np.zeros(pan.shape[1:3], np.uint8)
    mask[:, 32:] = 255
    srv = StyleServer("127.0.0.1:0", device="cpu", engine=WorkspaceEngine("cpu"), warm=False)
    srv.start()
    results, events = {}, []
    try:
        job = JobRequest(
            pan.tobytes(), 64, 48, 3, "u8", [(STYLE_PATH.read_bytes(), 1.0)], mask=mask.tobytes(),
            options={"iterations": 4, "seed": 3}, frames=FRAMES,
        )  # fmt: skip
        with importlib.import_module("nst_proto.client").StyleClient(srv.address) as client:
            client.stylize_frames(
                job, lambda i, r: results.setdefault(i, r.pixels), on_event=events.append
            )
    finally:
        srv.stop(grace=1)
    assert sorted(results) == [0, 1, 2]
    for index, pixels in results.items():
        image = np.frombuffer(pixels, np.uint8).reshape(pan[index].shape)
        assert np.array_equal(image[mask == 0], pan[index][mask == 0]), f"frame {index}"
        painted = np.abs(image[mask == 255].astype(int) - pan[index][mask == 255]).mean()
        assert painted > 5, f"frame {index} is hardly painted ({painted:.1f})"
    progress = [e for e in events if e.kind == "progress"]
    assert {e.frame for e in progress} == {0, 1, 2}
    assert progress[-1].step == progress[-1].total_steps and progress[-1].fraction > 0.99


def test_nst_animate_server_writes_each_frame_as_the_local_path_names_them(server, fake, tmp_path):
    """`nst animate FOLDER STYLE -o OUT --server ADDRESS`: one job, every frame written
    under its input's name (the fake engine's 255 - x), and a run again has nothing to do."""
    from nst_server import frontend
    from PIL import Image

    fake.hold = False
    source = tmp_path / "frames"
    source.mkdir()
    for index, frame in enumerate(frames()):
        Image.fromarray(frame).save(source / f"shot-{index:02d}.png")
    out = tmp_path / "out"
    argv = ["animate", str(source), str(STYLE_PATH), "-o", str(out), "--server", server.address]
    assert frontend.main([*argv, "--iterations", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["shot-00.png", "shot-01.png", "shot-02.png"]
    for index, frame in enumerate(frames()):
        written = np.asarray(Image.open(out / f"shot-{index:02d}.png"))
        assert np.array_equal(written, 255 - frame)
    assert len(fake.sequences) == 1 and len(fake.sequences[0].frames) == FRAMES
    assert frontend.main(argv) == 0 and len(fake.sequences) == 1
