"""``python -m momix.cli``: the ``momix`` command (as ``python -m momix``)."""

import sys

from . import main

sys.exit(main())
