#!/bin/sh
# The trainer over a small task: schedule, updates, resume, stops (trainer.h).
. "$(dirname "$0")/lib.sh"; run_unit test_trainer
