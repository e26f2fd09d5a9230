"""``python -m recbole_dcr ...`` is the ``recbole-dcr`` command."""

import sys

from recbole_dcr.cli import main

sys.exit(main())
