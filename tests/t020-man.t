#!/bin/sh
# Every man page is clean mdoc, and every tool has one.
. "$(dirname "$0")/lib.sh"
command -v mandoc >/dev/null || skip_all "mandoc not installed"

for page in "$SRC_DIR"/man/man*/*.[0-9]; do
    [ -e "$page" ] || continue
    test_expect_success "mandoc -Tlint: ${page#$SRC_DIR/}" "
        mandoc -Tlint -Wwarning '$page'
    "
done
for src in "$SRC_DIR"/tools/av-*.c; do
    [ -e "$src" ] || continue
    tool=$(basename "$src" .c)
    test_expect_success "$tool has a man page" "
        test -f '$SRC_DIR/man/man1/$tool.1'
    "
done
test_done
