"""``python -m musiclab`` starts the desktop app (``python -m musiclab.cli`` is the CLI)."""

import sys

from .gui.app import main

sys.exit(main())
