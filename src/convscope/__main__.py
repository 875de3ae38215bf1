"""``python -m convscope`` is the ``convscope`` command."""

import sys

from convscope.cli import main

sys.exit(main())
