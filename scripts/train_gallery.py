#!/usr/bin/env python3
"""Train the fast-mode networks of the style gallery, resumably, and judge them as they train.

    python scripts/train_gallery.py [--styles NAME ...] [--steps 2000] [--size 128]
                                    [--scale 0] [--batch-size 4] [--width 16] [--judge-every 250]
                                    [--held-out 3] [--photos DIR] [--work DIR] [--device auto]
                                    [--no-palette] [--strength 0.5] [--ship DIR]

The command of `nst_engine.evaluation.gallery_training`, which says what it does. The release
ships a network with `--ship nst_engine/gallery/networks` from the repository's root.
"""

import sys

from nst_engine.evaluation.gallery_training import main

if __name__ == "__main__":
    sys.exit(main())
