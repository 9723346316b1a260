#!/usr/bin/env python3
"""Evaluate or benchmark a VLM: `python bench.py --data MME` (see README.md)."""

import sys

from fasteval.cli.args import main

if __name__ == "__main__":
    sys.exit(main())
