"""The nst.v1 service on a Ray cluster (nst_server.cluster, nst_server.ray_replica).

Without Ray (quick): the replica's bridge between an async call and StyleService, driven by
hand with the fake engine: a job's messages, a refusal's status, the token, a client that
goes away. With a real local Ray of 2 CPUs (slow; the replicas run tests/cluster_engine.py,
10 ms an iteration): `nst-server start --cluster auto` / status / stop once, then one Serve
instance for the module: a job from both clients, every replica answering the same, two jobs
on two replicas, and a replica killed mid-job, whose job the client's retry delivers.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from nst_proto import pure_client
from nst_proto import style_pb2 as pb
from nst_proto.client import StyleClient
from nst_proto.job import JobRequest, ServerLost, error_for_status, retried_once_if_lost
from nst_server.jobs import Limits
from nst_server.ray_replica import ReplicaSettings, StyleReplica, token_digest
from test_scheduler import STYLE

TESTS = Path(__file__).resolve().parent
ENGINE = "cluster_engine:TimedEngine"
CLIENTS = {"grpcio": StyleClient, "pure": pure_client.StyleClient}
WIDTH, HEIGHT = 64, 48
PIXELS = bytes(range(256)) * (WIDTH * HEIGHT * 3 // 256)
INVERSE = bytes(255 - b for b in PIXELS)


def request(iterations: int = 3) -> JobRequest:
    """A job the test engine runs for 10 ms an iteration and answers with 255 - x."""
    return JobRequest(PIXELS, WIDTH, HEIGHT, 3, "u8", styles=[(STYLE, 1.0)],
                      options={"iterations": iterations})  # fmt: skip


# ---- the replica's bridge, without Ray ----------------------------------------------------
class FakeRayContext:
    """What Ray Serve hands a method as grpc_context (RayServegRPCContext's part we use)."""

    def __init__(self, metadata=()) -> None:
        self.metadata, self.code, self.details = list(metadata), None, ""

    def invocation_metadata(self):
        return self.metadata

    def set_code(self, code) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details


async def _stream(messages):
    for message in messages:
        yield message


def run_stylize(replica, messages, context) -> list:
    async def main():
        return [m async for m in replica.Stylize(_stream(messages), context)]

    return asyncio.run(main())


@pytest.fixture(scope="module")
def replica():
    import cluster_engine  # noqa: F401 - importable as the settings name it

    return StyleReplica(ReplicaSettings(engine=ENGINE, warm=False, token_sha256=None))


def test_the_replica_has_a_method_for_every_rpc_of_the_contract():
    for method in pb.DESCRIPTOR.services_by_name["StyleService"].methods:
        function = getattr(StyleReplica, method.name)
        kind = (
            inspect.isasyncgenfunction if method.server_streaming else inspect.iscoroutinefunction
        )
        assert kind(function), method.name


def test_a_job_through_the_bridge_streams_the_single_servers_messages(replica):
    events = run_stylize(replica, request().messages(), FakeRayContext())
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "queued" and "started" in kinds and "finished" in kinds
    finished = next(e.finished for e in events if e.HasField("finished"))
    assert finished.stats["replica_pid"] == str(os.getpid())
    data = b"".join(e.result_chunk.data for e in events if e.HasField("result_chunk"))
    assert data == INVERSE


def test_a_refusal_keeps_its_status_for_the_proxy(replica):
    context = FakeRayContext()
    spec_only = [next(request().messages()), pb.StylizeRequest(submit=pb.Submit())]
    spec_only[0].spec.width = 0
    with pytest.raises(RuntimeError):
        run_stylize(replica, spec_only, context)
    assert context.code == grpc.StatusCode.INVALID_ARGUMENT and context.details


def test_the_token_is_checked_by_the_replica_and_health_needs_none():
    guarded = StyleReplica(
        ReplicaSettings(engine=ENGINE, warm=False, token_sha256=token_digest("s3cret"))
    )
    context = FakeRayContext()
    with pytest.raises(RuntimeError):
        asyncio.run(guarded.GetInfo(pb.GetInfoRequest(), context))
    assert context.code == grpc.StatusCode.UNAUTHENTICATED
    good = FakeRayContext([("authorization", "Bearer s3cret")])
    assert asyncio.run(guarded.GetInfo(pb.GetInfoRequest(), good)).protocol == "nst.v1"
    from grpc_health.v1 import health_pb2

    assert guarded.Check(health_pb2.HealthCheckRequest(), context).status == 1  # SERVING


def test_a_client_that_goes_away_cancels_its_job(replica):
    scheduler = replica.service.scheduler

    async def main():
        calls = replica.Stylize(_stream(request(iterations=3000).messages()), FakeRayContext())
        async for event in calls:
            if event.HasField("started"):
                break
        assert scheduler.running is not None
        await calls.aclose()  # what Ray does when the client goes: the generator is closed

    asyncio.run(main())
    deadline = time.monotonic() + 10  # the job would take 30 s
    while scheduler.running is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scheduler.running is None, "the job was cancelled when its call ended"


def test_the_proxys_word_for_a_dead_replica_is_server_lost_and_retried_once():
    error = error_for_status("INTERNAL", "The actor died unexpectedly before finishing", "h:1")
    assert isinstance(error, ServerLost)
    tries = []

    def attempt():
        tries.append(1)
        if len(tries) == 1:
            raise error
        return "result"

    assert retried_once_if_lost(attempt) == "result" and len(tries) == 2
    tries.clear()

    def always_lost():
        tries.append(1)
        raise error

    with pytest.raises(ServerLost):
        retried_once_if_lost(always_lost)
    assert len(tries) == 2, "retried once, not more"


# ---- the proxy's router, without Ray's processes ----------------------------------------
class FakeReplica:
    def __init__(self, name: str) -> None:
        from ray.serve._private.common import DeploymentID, ReplicaID

        self.replica_id = ReplicaID(name, DeploymentID("StyleReplica", "nst"))
        self.max_ongoing_requests = 4


def call(name: str):
    from types import SimpleNamespace

    return SimpleNamespace(metadata=SimpleNamespace(internal_request_id=name))


@pytest.fixture()
def router():
    """FewestJobsRouter as the proxy builds it, with a clock the test moves."""
    from nst_server.ray_router import FewestJobsRouter
    from ray.serve._private.common import DeploymentHandleSource, DeploymentID

    clock = [1000.0]

    async def build():  # Serve builds it inside its event loop
        return FewestJobsRouter(
            deployment_id=DeploymentID("StyleReplica", "nst"),
            handle_source=DeploymentHandleSource.PROXY,
            use_replica_queue_len_cache=True,
            get_curr_time_s=lambda: clock[0],
        )

    built = asyncio.run(build())
    built.initialize_state()
    built.clock = clock
    return built


def first_choice(router, replicas, name: str):
    return asyncio.run(router.choose_replicas(replicas, call(name)))[0][0]


def test_two_calls_chosen_before_either_is_sent_go_to_two_replicas(router):
    a, b = FakeReplica("a"), FakeReplica("b")
    for _ in range(8):  # however ties fall, the second call avoids the first's replica
        first = first_choice(router, [a, b], "job-1")
        second = first_choice(router, [a, b], "job-2")
        assert first is not second
        for name in ("job-1", "job-2"):
            router.on_request_completed(first.replica_id, name)


def test_a_replica_whose_job_ended_takes_the_next_one(router):
    a, b = FakeReplica("a"), FakeReplica("b")
    first = first_choice(router, [a, b], "job-1")
    router.on_request_routed(call("job-1"), first.replica_id, None)
    second = first_choice(router, [a, b], "job-2")
    router.on_request_routed(call("job-2"), second.replica_id, None)
    router.on_request_completed(first.replica_id, "job-1")
    assert first_choice(router, [a, b], "job-3") is first


def test_a_replica_serve_heard_is_full_is_passed_over(router):
    a, b = FakeReplica("a"), FakeReplica("b")
    router.on_request_routed(call("job-1"), b.replica_id, None)
    router.on_new_queue_len_info(a.replica_id, a.max_ongoing_requests)
    assert first_choice(router, [a, b], "job-2") is b


def test_a_call_given_up_before_it_was_sent_stops_counting(router):
    a, b = FakeReplica("a"), FakeReplica("b")
    for name in ("gone-1", "gone-2"):  # chosen while `a` was the only replica
        assert first_choice(router, [a], name) is a
    router.on_request_routed(call("job"), b.replica_id, None)
    assert first_choice(router, [a, b], "probe") is b
    router.on_request_completed(b.replica_id, "probe")
    router.clock[0] += 11  # their clients went away; Serve never reports the end of them
    assert first_choice(router, [a, b], "next") is a


def test_a_replica_that_does_not_answer_gives_way_after_a_few_tries(router):
    from nst_server.ray_router import PATIENCE

    a, b = FakeReplica("a"), FakeReplica("b")
    ranks = [asyncio.run(router.choose_replicas([a, b], call("job"))) for _ in range(PATIENCE)]
    assert all(len(r) == 1 for r in ranks) and len({r[0][0] for r in ranks}) == 1
    chosen = ranks[0][0][0]
    then = asyncio.run(router.choose_replicas([a, b], call("job")))
    assert then == [[chosen], [b if chosen is a else a]]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--cluster", "auto", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "has no TLS"),
        (["--cluster", "auto", "--address", "unix:/tmp/nst.sock"], "needs --address HOST:PORT"),
        (["--replicas", "2"], "--replicas needs --cluster"),
    ],
)
def test_what_a_cluster_cannot_do_is_refused_in_one_line_before_ray_starts(
    arguments, words, capsys
):
    from nst_server import cli

    try:
        code = cli.main(["start", *arguments])
    except SystemExit as exc:  # argparse's refusal
        code = exc.code
    assert code == 2 and words in capsys.readouterr().err
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


# ---- a real local Ray ---------------------------------------------------------------------
def ray_env(pid_dir: Path) -> dict:
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "NST_CLUSTER_ENGINE": ENGINE, "NST_TEST_PID_DIR": str(pid_dir)}


@pytest.mark.slow
def test_nst_server_start_cluster_auto_status_stop(tmp_path):
    from nst_server.cluster import free_port

    env = {**os.environ, **ray_env(tmp_path), "NST_STATE_DIR": str(tmp_path / "state")}
    address = f"127.0.0.1:{free_port()}"

    def nst_server(*args):
        command = [sys.executable, "-m", "nst_server", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)

    started = nst_server("start", "--cluster", "auto", "--replicas", "1", "--address", address,
                         "--no-warm-up", "--models", str(tmp_path / "models"))  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        status = nst_server("status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"on {address} (Ray cluster auto, 1 replica(s))" in status.stdout
        with StyleClient(address, 60) as client:
            assert client.stylize(request()).pixels == INVERSE
    finally:
        stopped = nst_server("stop", "--timeout", "60")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stdout
    assert nst_server("status").returncode == 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray (2 CPUs) with Serve and two CPU replicas, for the module."""
    from nst_server import cluster as ray_cluster

    pid_dir = tmp_path_factory.mktemp("pids")
    saved = dict(os.environ)
    os.environ.update(ray_env(pid_dir))  # the local Ray's workers inherit it
    ray_cluster.connect("auto", num_cpus=2)
    try:
        port = ray_cluster.free_port()
        settings = ReplicaSettings(limits=Limits(max_queue=2), engine=ENGINE, warm=False,
                                   models=str(tmp_path_factory.mktemp("models")))  # fmt: skip
        ray_cluster.deploy(settings, ray_cluster.placement("cpu", 2), port)
        yield {"address": f"127.0.0.1:{port}", "pids": pid_dir}
    finally:
        ray_cluster.undeploy(stop_ray=True)
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.slow
@pytest.mark.parametrize("transport", CLIENTS)
def test_a_job_through_the_cluster_from_both_clients(cluster, transport):
    kinds = []
    with CLIENTS[transport](cluster["address"], 60) as client:
        result = client.stylize(request(), on_event=lambda e: kinds.append(e.kind))
    assert result.pixels == INVERSE and (result.width, result.height) == (WIDTH, HEIGHT)
    assert kinds[0] == "queued" and kinds[-1] == "finished" and result.stats["replica"]


@pytest.mark.slow
def test_every_replica_answers_the_one_answer_calls_the_same(cluster):
    answers = {}
    with StyleClient(cluster["address"], 60) as client:
        for _ in range(40):
            info = client.info()
            answers[info.pid] = (
                info.limits, info.gallery, info.model_folder,
                [m.id for m in client.list_models()],
                [p.name for p in client.gallery()],
                client.estimate(WIDTH, HEIGHT, styles=[(STYLE, 1.0)]).work_width,
            )  # fmt: skip
            if len(answers) == 2:
                break
    assert len(answers) == 2, "the calls reached both replicas"
    first, second = answers.values()
    assert first == second


@pytest.mark.slow
def test_two_jobs_at_once_land_on_two_replicas(cluster):
    results = {}

    def run(name):
        with StyleClient(cluster["address"], 60) as client:
            results[name] = client.stylize(request(iterations=150))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    tic = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    took = time.monotonic() - tic
    assert {r.pixels == INVERSE for r in results.values()} == {True}
    assert results["a"].stats["replica"] != results["b"].stats["replica"]
    assert took < 2 * 1.5, f"two 1.5 s jobs took {took:.1f} s: they ran one after the other"


def replicas_running() -> int:
    from ray import serve

    deployment = serve.status().applications["nst"].deployments["StyleReplica"]
    return deployment.replica_states.get("RUNNING", 0)


@pytest.mark.slow
@pytest.mark.parametrize("transport", CLIENTS)
def test_a_replica_killed_mid_job_the_retry_delivers_and_the_next_job_runs(cluster, transport):
    pid_dir = cluster["pids"]
    for leftover in pid_dir.iterdir():
        leftover.unlink()
    killed = []

    def kill_the_first_replica_that_starts_the_job():
        deadline = time.monotonic() + 60
        while not any(pid_dir.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(next(pid_dir.iterdir()).name)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_first_replica_that_starts_the_job, daemon=True)
    killer.start()
    with CLIENTS[transport](cluster["address"], 120) as client:
        result = client.stylize(request(iterations=200))
        assert killed, "the job ended before its replica was killed"
        assert result.pixels == INVERSE
        assert result.stats["replica_pid"] != str(killed[0]), "the retry ran it elsewhere"
        assert client.stylize(request()).pixels == INVERSE, "the cluster serves the next job"
    deadline = time.monotonic() + 120
    while replicas_running() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert replicas_running() == 2, "Ray brought the replica back"
