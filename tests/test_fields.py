"""One place per field: the options and the progress fields are read from the contract's
descriptor and the engine's dataclasses, so every copy between them carries every field."""

from __future__ import annotations

import dataclasses

from nst_proto.job import OPTION_FIELDS, JobRequest, event_from_message
from nst_server import wire
from nst_server.jobs import Limits, Progressed
from nst_server.remote import _progress, options_dict

from nst_engine.cli import build_parser
from nst_engine.options import Progress, StyleOptions

# A value other than the default for each StyleOptions field the contract carries.
CHANGED = {
    "method": "gatys",
    "strength": 0.7,
    "size": 200,
    "quality": "high",
    "style_scale": 2.0,
    "full_resolution": "refine",
    "iterations": 7,
    "preserve_color": True,
    "seed": 5,
    "pooling": "avg",
}


def test_every_option_the_contract_and_the_engine_share_crosses_the_wire():
    shared = {f.name for f in dataclasses.fields(StyleOptions)} & set(OPTION_FIELDS)
    assert set(CHANGED) <= shared and {"preview_max_side", "preview_interval"}.isdisjoint(shared)
    options = StyleOptions(**CHANGED)
    request = JobRequest(bytes(64 * 64 * 3), 64, 64, 3, "u8", styles=[("starry-night", 1.0)],
                         options=options_dict(options))  # fmt: skip
    checked = wire.check_spec(request.spec(), Limits())
    assert {name: getattr(checked, name) for name in CHANGED} == CHANGED
    # the server's own fields (device, max_pixels, extractor) stay the engine's defaults
    assert checked == dataclasses.replace(StyleOptions(style_weights=(1.0,)), **CHANGED)


def test_unset_options_stay_the_engine_defaults():
    request = JobRequest(bytes(64 * 64 * 3), 64, 64, 3, "u8", styles=[("starry-night", 1.0)])
    assert wire.check_spec(request.spec(), Limits()) == StyleOptions(style_weights=(1.0,))


def test_every_progress_field_reaches_the_client_and_back_to_the_engine():
    sent = Progress(level=1, levels=3, iteration=4, iterations=9, losses={"style": 2.5},
                    elapsed=1.5, step=13, total_steps=27, done=0.25)  # fmt: skip
    (message,) = wire.messages(Progressed(sent, eta=4.5), Limits())
    event = event_from_message(message)
    assert (event.kind, event.fraction, event.eta) == ("progress", 0.25, 4.5)
    back = _progress(event)
    assert dataclasses.asdict(back) == dataclasses.asdict(sent)


def test_every_style_option_is_a_stylize_argument_with_the_dataclass_default():
    stylize = build_parser().commands["stylize"]
    defaults = vars(stylize.parse_args(["content.png", "style.png", "-o", "out.png"]))
    for f in dataclasses.fields(StyleOptions):
        if f.name != "dynamic_weighting":  # for comparisons in code, not on the command line
            assert defaults[f.name] == f.default, f.name
