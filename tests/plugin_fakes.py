"""What the plug-in's tests play the server with: the server's result messages, handed to
the real client's nst_proto.job.ResultReader as a transport hands them (a module of its own
so that test modules never import each other)."""

from __future__ import annotations

from nst_proto import job as nst_job
from nst_proto import style_pb2 as pb


def send_result(
    reader: nst_job.ResultReader,
    pixels: bytes,
    width: int,
    height: int,
    channels: int = 3,
    sample_type: str = "u8",
    *,
    frame: int = 0,
    frames: int = 0,
) -> None:
    """One frame's result as the server sends it: Finished, then its bytes in two chunks."""
    reader.take(
        pb.StylizeEvent(
            finished=pb.Finished(
                width=width, height=height, channels=channels,
                sample_type=nst_job.SAMPLE_TYPES[sample_type], byte_size=len(pixels),
                frame=frame, frames=frames,
            )
        )
    )  # fmt: skip
    half = len(pixels) // 2
    for offset, data in ((0, pixels[:half]), (half, pixels[half:])):
        reader.take(pb.StylizeEvent(result_chunk=pb.ResultChunk(offset=offset, data=data)))
