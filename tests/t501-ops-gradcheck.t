#!/bin/sh
# Finite-difference gradient checks; fast operators equal the reference.
. "$(dirname "$0")/lib.sh"; run_unit test_opgrad
