#!/bin/sh
# Unit tests of the library fixes of issue 12 (tests/unit/test_reliab.c).
. "$(dirname "$0")/lib.sh"; run_unit test_reliab
