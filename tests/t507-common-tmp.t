#!/bin/sh
# The temp-file registry (no size limit; a fatal signal removes every
# registered file) and a write error reported at commit.
. "$(dirname "$0")/lib.sh"; run_unit test_backend_common
