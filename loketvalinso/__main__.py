"""``python -m loketvalinso`` is the ``loketvalinso`` command."""

import sys

from loketvalinso._cli import main

sys.exit(main())
