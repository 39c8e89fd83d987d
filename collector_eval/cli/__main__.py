"""`python -m collector_eval.cli`: what the service's own supervisor and the tests start."""

import sys

from collector_eval.cli.main import main

sys.exit(main())
