"""The nst.v1 gRPC contract: the .proto (nst/v1/style.proto), its generated Python stubs and
the client (`nst_proto.client`).

This package imports nothing but grpc and protobuf, so it can be copied as is into GIMP's
plug-in folder. Regenerate the stubs after editing the .proto with
`python -m nst_proto.generate` (a test fails when they differ from the .proto).
"""

PROTOCOL = "nst.v1"
SERVICE_NAME = "nst.v1.StyleService"
