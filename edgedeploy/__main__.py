"""``python -m edgedeploy`` runs the CLI."""

import sys

from edgedeploy.cli import main

sys.exit(main())
