"""`python -m fasteval.report [WORK_DIR ...]`: the same as `fasteval report`."""

import sys

from fasteval.report.cli import main

if __name__ == "__main__":
    sys.exit(main())
