"""``python -m loketvalinso`` is the ``loketvalinso`` command."""

import sys

from loketvalinso.cli import main

sys.exit(main())
