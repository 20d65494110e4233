"""What the jobs on one device share, owned by whoever runs them.

A Workspace holds the feature extractors loaded onto its device and the style Gram targets
computed with them, so that the jobs run there reuse both. The caller owns it: the server
one per device for its whole life, the `nst` command one per command, the bench one per run,
a script as it likes. Nothing in it ever moves to another device; a second device is a
second workspace.
"""

from __future__ import annotations

import threading

import torch

from .devices import resolve_device
from .features import FeatureExtractor, load_extractor
from .targets import StyleTargets


class Workspace:
    def __init__(self, device: str | torch.device = "auto") -> None:
        self.device = resolve_device(device)
        self.style_targets = StyleTargets()
        self._extractors: dict[tuple[str, str], FeatureExtractor] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Workspace({str(self.device)!r}, extractors={sorted(self._extractors)})"

    def extractor(self, name: str = "vgg19", pooling: str = "max") -> FeatureExtractor:
        """The extractor `name` with `pooling` on this workspace's device, loaded once."""
        key = (name, pooling)
        with self._lock:
            if key not in self._extractors:
                template = load_extractor(name, pooling)
                on_cpu = self.device.type == "cpu"
                self._extractors[key] = template if on_cpu else template.on(self.device)
            return self._extractors[key]
