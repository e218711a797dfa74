"""Infrastructure definitions: stage configuration, CDK constructs and stacks (the catalog is switchboard.catalog)."""

import sys
from pathlib import Path

# The catalog lives in the shared package, which the functions read at run time (route policy, settings); CDK
# synthesis reads the very same module from the layer's folder.
_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "shared" / "python")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
