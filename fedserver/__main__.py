"""`python -m fedserver` is the `fedserver` command."""

import sys

from fedserver.cli import main

sys.exit(main())
