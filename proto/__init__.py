"""The nst.v1 gRPC contract: the .proto (nst/v1/style.proto), its generated Python stubs and
the clients.

    nst_proto.job           what a job is on the wire, with no transport: JobRequest, JobEvent,
                            JobResult and the errors a client raises
    nst_proto.info          what the server says of itself: ServerInfo, StyleModel,
                            GalleryPainting, JobEstimate
    nst_proto.client        StyleClient on grpcio (the `nst` command and the server's tools)
    nst_proto.pure_client   the same StyleClient on grpclib, pure Python (the GIMP plug-in)

This package imports nothing of the engine or the server. Everything but `client` (and the
grpcio stubs it uses) runs on pure-Python protobuf and grpclib, so it is copied as is into
GIMP's plug-in folder and works in every GIMP's own Python (3.10 and newer). Regenerate the
stubs after editing the .proto with `python -m nst_proto.generate` (a test fails when they
differ from the .proto).
"""

PROTOCOL = "nst.v1"
SERVICE_NAME = "nst.v1.StyleService"
DEFAULT_ADDRESS = "127.0.0.1:50051"
# Data per Chunk or ResultChunk message: far below gRPC's 4 MiB default message limit.
CHUNK_BYTES = 1 << 20
# The largest message either side accepts (a chunk plus its framing, a ServerInfo, a preview).
MAX_MESSAGE_BYTES = 8 << 20
# What a person types to start the server; clients name it when nothing answers.
START_COMMAND = "nst-server start"
