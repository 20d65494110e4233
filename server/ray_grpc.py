"""What Ray Serve's gRPC proxy registers for the cluster service (its grpc_servicer_functions,
imported by the proxy on every node): nst.v1 and grpc.health.v1.

Serve carries a streaming call's request messages from the proxy to a replica as Python
objects (pickled), and pickle finds a class by its module. The generated messages call their
module "nst.v1.style_pb2" (the .proto's path), which is not importable, so importing this
module teaches pickle to carry them as (name, bytes): the proxy and every replica import it.
"""

from __future__ import annotations

import copyreg

from grpc_health.v1 import health_pb2_grpc
from nst_proto import style_pb2 as pb
from nst_proto import style_pb2_grpc


def message(name: str, data: bytes):
    """The contract's message `name` from its bytes (pickle's way back)."""
    return getattr(pb, name).FromString(data)


def _reduce(msg) -> tuple:
    return message, (type(msg).__name__, msg.SerializeToString())


for _name in pb.DESCRIPTOR.message_types_by_name:
    copyreg.pickle(getattr(pb, _name), _reduce)


def add_servicers(servicer, server) -> None:
    """Register nst.v1.StyleService and grpc.health.v1.Health (Ray routes both to the
    deployment's methods of the same names)."""
    style_pb2_grpc.add_StyleServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
