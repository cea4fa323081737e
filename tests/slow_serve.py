"""`carbon-ledger serve` whose uvicorn workers take SLOW_START_SECONDS to start (for tests)."""

import sys
import time

from tools.cli import main

SLOW_START_SECONDS = 7  # longer than uvicorn's default worker health check (5 s)

if __name__ == "__mp_main__":  # a spawned uvicorn worker, before it can answer a health check
    time.sleep(SLOW_START_SECONDS)
elif __name__ == "__main__":
    sys.exit(main())
