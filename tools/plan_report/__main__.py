"""``python -m tools.plan_report``: see :mod:`tools.plan_report.cli`."""

import sys

from tools.plan_report.cli import main

sys.exit(main())
