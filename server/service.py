"""The nst.v1 StyleService over grpcio: a thin layer between gRPC calls and the scheduler.

A Stylize call reads the request stream (RequestReader: a thread of its own, so a stalled
upload times out), assembles the job through the wire mapping (wire.Upload), queues it with
the scheduler (jobs.Scheduler), and streams the job's events back as messages
(wire.messages). A JobError ends the call with the status of its code. The service is
registered with decoders that never raise, so bytes that are no message get
INVALID_ARGUMENT and one log line, not grpcio's INTERNAL and a traceback.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from nst_proto import PROTOCOL, SERVICE_NAME
from nst_proto import style_pb2 as pb

from nst_engine.errors import NSTError

from .jobs import (
    NO_LIBRARY,
    Estimate,
    Failed,
    Finished,
    Gone,
    Job,
    JobError,
    Limits,
    Scheduler,
    invalid,
)
from .wire import (
    Upload,
    check_spec,
    estimate_message,
    gallery_message,
    info_message,
    messages,
    model_list_message,
)

log = logging.getLogger("nst_server")


@dataclass(frozen=True)
class Undecodable:
    """What the server gets for bytes that are no valid message of the method's type."""

    what: str
    reason: str

    def error(self) -> JobError:
        return invalid(f"the bytes sent are not a valid {self.what} message ({self.reason})")


def _decoder(message_type) -> Callable[[bytes], Any]:
    def decode(data: bytes):
        try:
            return message_type.FromString(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError, and anything hostile bytes raise
            return Undecodable(message_type.DESCRIPTOR.name, str(exc)[:120] or type(exc).__name__)

    return decode


# The one-answer methods: (request type, reply type).
UNARY_METHODS = {
    "GetInfo": (pb.GetInfoRequest, pb.ServerInfo),
    "ListModels": (pb.ListModelsRequest, pb.ModelList),
    "ListGallery": (pb.ListGalleryRequest, pb.Gallery),
    "Estimate": (pb.JobSpec, pb.JobEstimate),
}


def add_to_server(service: StyleService, server: grpc.Server) -> None:
    """Register the service with decoders that never raise (see Undecodable)."""
    handlers = {
        "Stylize": grpc.stream_stream_rpc_method_handler(
            service.Stylize,
            request_deserializer=_decoder(pb.StylizeRequest),
            response_serializer=pb.StylizeEvent.SerializeToString,
        ),
    }
    for name, (request, reply) in UNARY_METHODS.items():
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            getattr(service, name),
            request_deserializer=_decoder(request),
            response_serializer=reply.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def _status(error: JobError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN)


class RequestReader:
    """One call's request stream, read by a thread of its own, so that waiting for the next
    message can time out (a stalled upload) and the listener after Submit reads on."""

    def __init__(self, requests: Iterator) -> None:
        self.inbox: queue.Queue = queue.Queue(maxsize=4)  # read ahead a few chunks at most
        self.closed = threading.Event()
        threading.Thread(target=self._pump, args=(requests,), daemon=True).start()

    def _pump(self, requests: Iterator) -> None:
        try:
            for request in requests:
                if not self._put(request):
                    return
        except Exception:  # noqa: BLE001 - the stream broke: the call's own callback says so
            pass
        self._put(None)

    def _put(self, item) -> bool:
        """Hand over one item, unless the call ended meanwhile (then nobody reads)."""
        while not self.closed.is_set():
            try:
                self.inbox.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """The call ended: let the reading thread go, and drop what it read ahead."""
        self.closed.set()
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                return

    def next(self, idle_seconds: float | None = None):
        """The next request (None at the stream's end, or once the call ended); raises
        JobError when nothing came for `idle_seconds`, and INVALID_ARGUMENT for bytes that
        are no StylizeRequest."""
        deadline = None if idle_seconds is None else time.monotonic() + idle_seconds
        while not self.closed.is_set():
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                raise JobError(
                    "ABORTED",
                    f"the upload stalled: nothing arrived for {idle_seconds:g} s, so the server "
                    "dropped the job; send it again",
                )
            try:
                request = self.inbox.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(request, Undecodable):
                raise request.error()
            return request
        return None


class StyleService:
    def __init__(
        self,
        scheduler: Scheduler,
        limits: Limits,
        info: Callable[[], dict[str, Any]],
    ) -> None:
        self.scheduler = scheduler
        self.limits = limits
        self.info = info
        self.started = time.time()

    def _refuse_undecodable(self, request, context, method: str) -> None:
        if isinstance(request, Undecodable):
            error = request.error()
            log.info("%s refused: %s: %s", method, error.code, error.message)
            context.abort(_status(error), error.message)

    def GetInfo(self, request, context):  # noqa: N802 - gRPC's name
        self._refuse_undecodable(request, context, "GetInfo")
        queued, busy = self.scheduler.status()
        library = self.scheduler.library
        return info_message(
            self.limits,
            self.info(),
            protocol=PROTOCOL,
            queued=queued,
            busy=busy,
            uptime_seconds=time.time() - self.started,
            pid=os.getpid(),
            model_folder=str(library.folder) if library else "",
        )

    def ListModels(self, request, context):  # noqa: N802 - gRPC's name
        self._refuse_undecodable(request, context, "ListModels")
        return model_list_message(self.scheduler.library)

    def ListGallery(self, request, context):  # noqa: N802 - gRPC's name
        self._refuse_undecodable(request, context, "ListGallery")
        return gallery_message()

    def Estimate(self, request, context):  # noqa: N802 - gRPC's name
        """The expected time of a job; a spec Stylize would refuse comes back refused."""
        self._refuse_undecodable(request, context, "Estimate")
        try:
            options = check_spec(request, self.limits)
        except JobError as exc:
            return estimate_message(Estimate(0.0, 0, 0, 0, refused=exc.message))
        if request.model:
            try:
                if self.scheduler.library is None:
                    raise invalid(NO_LIBRARY)
                self.scheduler.library.get(request.model)
            except JobError as exc:
                return estimate_message(Estimate(0.0, 0, 0, 0, refused=exc.message))
            except NSTError as exc:
                return estimate_message(Estimate(0.0, 0, 0, 0, refused=str(exc)))
        return estimate_message(
            self.scheduler.estimate(
                request.width,
                request.height,
                options,
                request.model,
                request.frames,
                not request.independent,
            )  # fmt: skip
        )

    def Stylize(self, request_iterator, context) -> Iterator[pb.StylizeEvent]:  # noqa: N802
        job: Job | None = None
        requests = RequestReader(request_iterator)
        try:
            job = self._receive(requests, context)
            yield from self._follow(job, requests, context)
        except JobError as exc:
            if job is None or not job.ran:  # the worker logs the jobs it ran
                log.info(
                    "job %s %s before it started: %s: %s",
                    job.id if job is not None else "-",
                    "refused" if job is None else "ended",
                    exc.code,
                    exc.message,
                )
            if context.is_active():
                yield from messages(Failed(exc), self.limits)
            context.abort(_status(exc), exc.message)
        finally:
            requests.close()
            if job is not None:
                job.cancel("cancelled: the client went away")
                self.scheduler.withdraw(job)

    def _receive(self, requests: RequestReader, context) -> Job:
        """The upload, message by message, until Submit: the job, ready to queue."""
        tic = time.perf_counter()
        self.scheduler.check_room()
        upload: Upload | None = None
        while (request := requests.next(self.limits.upload_idle_seconds)) is not None:
            which = request.WhichOneof("message")
            if which == "spec":
                if upload is not None:
                    raise invalid("a second JobSpec; send exactly one, first")
                upload = Upload(request.spec, self.limits)
            elif which == "chunk":
                if upload is None:
                    raise invalid("a Chunk before the JobSpec; send the JobSpec first")
                upload.add(request.chunk)
            elif which == "submit":
                if upload is None:
                    raise invalid("Submit before the JobSpec; send the JobSpec first")
                job = upload.finish(self.scheduler.engine)
                job.upload_seconds = time.perf_counter() - tic
                return job
            elif which == "cancel":
                raise JobError("CANCELLED", "the job was cancelled by the client")
            else:
                raise invalid("an empty StylizeRequest; set spec, chunk, submit or cancel")
        raise JobError(
            "CANCELLED" if not context.is_active() else "INVALID_ARGUMENT",
            "the request stream ended before Submit",
        )

    def _follow(self, job: Job, requests: RequestReader, context) -> Iterator[pb.StylizeEvent]:
        """Queue the job and stream its events until it ends; a Cancel on the request stream
        or the client going away cancels it."""

        def on_done() -> None:
            if not job.cancelled.is_set():
                job.cancel("cancelled: the client disconnected or its deadline passed")
                job.events.put(Gone())

        context.add_callback(on_done)

        def listen() -> None:
            while True:
                try:
                    request = requests.next()
                except JobError:  # undecodable bytes after Submit: ignored like any message
                    continue
                if request is None:
                    return
                if request.WhichOneof("message") == "cancel":
                    job.cancel("cancelled by the client")
                    job.events.put(Gone())
                    return

        threading.Thread(target=listen, name=f"nst-listen-{job.id}", daemon=True).start()
        self.scheduler.submit(job)
        while True:
            event = job.events.get()
            if isinstance(event, Gone):
                self.scheduler.withdraw(job)
                if job.cancelled.is_set() and self.scheduler.running is not job:
                    raise JobError("CANCELLED", f"the job was {job.cancel_reason}")
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):  # of a sequence, one per frame
                yield from messages(event, self.limits)
                if event.last:
                    return
            elif not job.cancelled.is_set():
                yield from messages(event, self.limits)
