"""``python -m knobwise`` is the ``knobwise`` command."""

import sys

from knobwise.cli import main

sys.exit(main())
