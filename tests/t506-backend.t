#!/bin/sh
# The backend table: complete for the CPU, names what is not built, and
# operators through it equal the direct calls and the references.
. "$(dirname "$0")/lib.sh"; run_unit test_backend
