#!/bin/sh
# The conventions every tool keeps: --help on stdout with exit 0,
# --version, exit 2 and a "Try --help" hint on a bad option. Each tool's
# own tests check its handling of missing and bad inputs.
. "$(dirname "$0")/lib.sh"

for bin in "$AVKIT_BUILD"/bin/av-*; do
    [ -x "$bin" ] || continue
    tool=$(basename "$bin")
    test_expect_success "$tool --help prints usage on stdout, exit 0" "
        $tool --help >out 2>err && grep -qi usage out && test ! -s err
    "
    test_expect_success "$tool --version names tool and version" "
        $tool --version >out && grep -q '^$tool (avkit) [0-9]' out
    "
    test_expect_code 2 "$tool rejects an unknown option with exit 2" "
        $tool --no-such-option >out 2>err; rc=\$?
        grep -q \"^$tool: \" err && grep -q -- --help err && test ! -s out; exit \$rc
    "
done
test_done
