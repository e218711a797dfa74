"""`python -m switchboard_cli`: the same as the `switchboard` console script."""

import sys

from switchboard_cli.main import main

sys.exit(main())
