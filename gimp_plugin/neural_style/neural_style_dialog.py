"""What the Neural Style dialog says, without GTK: its Style entries, its line about the
server and its line about the job's expected time, and asking the server for them.

neural_style.py builds the widgets from these; like neural_style_core.py beside it, this
imports no `gi`, so the ordinary test suite runs it with a fake client
(tests/test_plugin_core.py). The dialog must open at once whatever the server does: a server
that does not answer gives no choices and the lines say that OK starts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import neural_style_core as core

# The dialog's one "Style" choice: an id per entry, "" for the style image file.
OWN_IMAGE = ("", "Your own image (the Style image below)")
# Seconds the dialog waits for the server before it opens without its choices.
ANSWER_WITHIN = 2.0


@dataclass
class ServerFacts:
    """What the dialog shows of the server; the defaults are a server that did not answer."""

    info: object = None  # the transport's ServerInfo
    gallery: list = field(default_factory=list)  # GalleryPainting records, or bare names
    models: list[tuple[str, str]] = field(default_factory=list)  # (model id, label)
    thumbnails: dict[str, bytes] = field(default_factory=dict)  # choice id: thumbnail PNG


def model_labels(models: list) -> list[tuple[str, str]]:
    """(id, label) of the server's trained style models (its StyleModel records)."""
    return [(m.id, f"{m.name} (trained at {m.training_size} px)") for m in models]


def server_facts(
    address: str, settings: dict, load: Callable[..., object] = core.load_transport
) -> ServerFacts:
    """The server's info, gallery and models for the dialog; ServerFacts() when the transport
    does not load (the job says why) or nothing answers within ANSWER_WITHIN seconds."""
    try:
        transport = load(settings=settings)
        client = core.open_client(transport, address, settings, connect_timeout=ANSWER_WITHIN)
    except (core.PluginError, ValueError):  # the job says why; or a bad address
        return ServerFacts()
    try:
        with client:
            info = client.info()
            models = client.list_models()
            try:
                gallery = client.gallery()
            except transport.ClientError:  # a server from before ListGallery: names only
                gallery = list(info.gallery)
    except transport.ClientError:  # nothing answers
        return ServerFacts()
    thumbnails = {f"model:{m.id}": m.thumbnail_png for m in models}
    thumbnails.update({f"gallery:{p.name}": p.thumbnail_png for p in gallery if hasattr(p, "name")})
    return ServerFacts(info, gallery, model_labels(models), thumbnails)


def style_choices(gallery: list, models: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(id, label) of the dialog's Style entries: the server's gallery paintings (its
    GalleryPainting records, or their bare names from a server without ListGallery), the
    style image file, then the trained style models (fast); a model named after a painting
    (the networks that ship with the gallery) is labelled with the painting's title."""
    paintings = []
    for painting in gallery:
        if isinstance(painting, str):
            paintings.append((painting, painting.replace("-", " ").capitalize()))
        else:
            paintings.append((painting.name, f"{painting.title}, {painting.artist}"))
    titles = dict(paintings)
    return (
        [(f"gallery:{name}", label) for name, label in paintings]
        + [OWN_IMAGE]
        + [(f"model:{id_}", f"{titles.get(id_, label)}, instant") for id_, label in models]
    )


def chosen_style(choice: str) -> tuple[str, str]:
    """(style-name, style-model) arguments for a Style entry's id."""
    kind, _, name = choice.partition(":")
    return (name, "") if kind == "gallery" else ("", name) if kind == "model" else ("", "")


def choice_of(style_name: str, style_model: str) -> str:
    """The Style entry's id for the arguments (the inverse of chosen_style)."""
    if style_model:
        return f"model:{style_model}"
    return f"gallery:{style_name}" if style_name else ""


def server_status(info, address: str) -> str:
    """The dialog's line about the server: where it runs, or that OK will start it."""
    if info is None and not core.on_this_computer(address):
        return f"Server: no answer from {address} (another computer: start the server there)"
    if info is None:
        return f"Server: not running at {address}; it starts when you press OK"
    where = info.gpu_name or ("the CPU" if info.device == "cpu" else info.device)
    waiting = f", {info.queued} job(s) waiting" if info.queued else ""
    busy = ", busy" if info.busy else ""
    return f"Server: running on {where}{busy}{waiting}"


def estimate_text(estimate, frames: int = 1) -> str:
    """The dialog's line about the job's time (a JobEstimate of `frames` frames), or why it
    would not run."""
    if estimate is None:
        return "Expected time: known once the server runs"
    if estimate.refused:
        return core.refusal_message(estimate)
    if estimate.seconds <= 0:
        return "Expected time: measured by the server's first job"
    jobs = estimate.measured_jobs
    basis = f"its last {jobs} jobs" if jobs > 1 else "its last job"
    each = f" for {frames} frames" if frames > 1 else ""
    return (
        f"Expected time: about {core.fmt_seconds(estimate.seconds)}{each} at "
        f"{estimate.work_width}x{estimate.work_height} (the server's speed on {basis})"
    )


def estimate_line(
    address: str,
    size: tuple[int, int],
    job: Callable[[object], tuple[list, str, dict, dict]],
    load: Callable[..., object] = core.load_transport,
) -> str:
    """The expected-time line for the job that `job(transport)` describes as (styles, model,
    options: of the transport's option types, fields: neural_style_frames.request_fields,
    empty for one layer), on layers of `size`, asking the server at `address`.

    A job that cannot be described yet (no style image chosen: PluginError) says why; a server
    that does not answer, or answers without Estimate, says that OK starts it."""
    width, height = size
    try:
        settings = core.read_settings()
        transport = load(settings=settings)
        styles, model, options, fields = job(transport)
        client = core.open_client(transport, address, settings, connect_timeout=ANSWER_WITHIN)
    except core.PluginError as exc:
        return str(exc)
    except ValueError as exc:  # a bad address: the job would stop on it too
        return f"Expected time: cannot ask the server ({exc})"
    try:
        with client:
            estimate = client.estimate(
                width, height, styles=styles, options=options, model=model, **fields
            )
    except transport.ClientError:
        return estimate_text(None)
    except ValueError as exc:  # a bad option: the job would stop on it too
        return f"Expected time: cannot ask the server ({exc})"
    return estimate_text(estimate, fields.get("frames", 1))
