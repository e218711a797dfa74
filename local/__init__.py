"""The one-machine stack: moto as AWS, an API Gateway-like HTTP gateway, queue workers and a scheduler."""

import sys
from pathlib import Path

# Lambda mounts the shared layer at /opt/python; `python -m local` puts the same folder on the path (pytest's
# `pythonpath` does it for tests), so handlers import `switchboard` exactly as they do deployed.
_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "shared" / "python")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
