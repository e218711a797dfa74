"""Cold import time of every catalog handler in a fresh interpreter, beside bare boto3 and a minimal Powertools app."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "shared" / "python"))

from switchboard import catalog  # noqa: E402 - the shared package must be importable first

RUNS = 5
GOAL = 1.5  # a handler may cost at most 1.5x a bare `import boto3`

MINIMAL_POWERTOOLS = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
app = APIGatewayRestResolver()
@app.get("/ping")
def ping():
    return {"ok": True}
def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def cold_import_s(code: str) -> float:
    """Seconds one fresh interpreter spends running `code` (interpreter start-up excluded)."""
    timed = f"import time\n_t = time.perf_counter()\n{code}\nprint(time.perf_counter() - _t)"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers/shared/python")]),
        "POWERTOOLS_SERVICE_NAME": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    out = subprocess.run([sys.executable, "-c", timed], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def median_s(code: str) -> float:
    """Median of RUNS cold imports."""
    return statistics.median(cold_import_s(code) for _ in range(RUNS))


def main() -> int:
    """Print the table; exit 1 when a handler misses the goal (so `make bench` shows it plainly)."""
    boto3_s = median_s("import boto3")
    rows = [("import boto3 (baseline)", boto3_s), ("minimal Powertools REST handler", median_s(MINIMAL_POWERTOOLS))]
    # Several catalog functions may share one code folder (the send workers): each folder is measured once.
    folders = sorted({fn.code for fn in catalog.FUNCTIONS})
    handlers = [(f"functions.{code}.handler", median_s(f"import functions.{code}.handler")) for code in folders]
    rows += handlers
    print(f"Cold import, median of {RUNS} fresh interpreters (Python {sys.version.split()[0]}):\n")
    print(f"| {'module':<40} | {'ms':>7} | {'x boto3':>7} |")
    print(f"|{'-' * 42}|{'-' * 9}|{'-' * 9}|")
    for name, seconds in rows:
        print(f"| {name:<40} | {seconds * 1000:7.1f} | {seconds / boto3_s:7.2f} |")
    misses = [name for name, seconds in handlers if seconds > GOAL * boto3_s]
    print(f"\nGoal: every handler <= {GOAL}x bare boto3. " + (f"MISSED by {', '.join(misses)}" if misses else "Met."))
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
