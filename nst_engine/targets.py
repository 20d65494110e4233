"""The style's targets: blended Gram matrices per layer and size, cached across jobs."""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

from .arrays import fit_long_side, resize_tensor
from .devices import autocast
from .features import FeatureExtractor, gram

# relu5_1 sits behind four 2x poolings: an input under 16 pixels leaves it nothing.
MIN_FEATURE_SIDE = 16


class StyleTargets:
    """Blended target Gram matrices per layer and size, cached across the jobs of one
    workspace (one device: see nst_engine.workspace).

    The cache key includes a digest of the style pixels, so a server applying the same style
    to many layers computes its targets once.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._cache: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def grams(
        self,
        extractor: FeatureExtractor,
        styles: list[tuple[str, torch.Tensor]],
        weights: list[float],
        side: int,
        layers: tuple[str, ...],
    ) -> dict[str, torch.Tensor]:
        total = sum(weights)
        blended: dict[str, torch.Tensor] = {}
        for (digest, style), weight in zip(styles, weights, strict=True):
            one = self._one(extractor, digest, style, side, layers)
            for name in layers:
                part = one[name] * (weight / total)
                blended[name] = part if name not in blended else blended[name] + part
        return blended

    def _one(self, extractor, digest, style, side, layers):
        key = (id(extractor), digest, side, layers)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        h, w = fit_long_side(*style.shape[-2:], side)
        if min(h, w) < 2 * MIN_FEATURE_SIDE:  # a wide style at a small size: keep it usable
            grow = 2 * MIN_FEATURE_SIDE / min(h, w)
            h, w = round(h * grow), round(w * grow)
        with torch.no_grad(), autocast(style.device):
            feats = extractor(resize_tensor(style, (h, w)), set(layers))
        result = {name: gram(feats[name]) for name in layers}
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return result
