#!/bin/sh
# Leftovers (issue 12, item 7): the temporary file of a run killed with
# SIGKILL is removed by the next run on the same output (and that of a
# live run is not); av-caption-feed's captioners, in their own process
# groups, end with the tool on SIGTERM, SIGINT and SIGKILL.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

# alive PID: the process exists and is not a zombie.
alive() {
    test -e /proc/$1 && ! grep -q '^[0-9]* (.*) Z' /proc/$1/stat 2>/dev/null
}
# gone PID...: every one has ended within 10 seconds.
gone() {
    i=0
    while [ $i -lt 100 ]; do
        still=
        for p in "$@"; do alive $p && still=1; done
        [ -z "$still" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "still running: $*"; return 1
}
# wait_for FILE: until FILE exists (10 seconds at most).
wait_for() {
    i=0
    while [ ! -s "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    test -s "$1"
}
# tmps: the hidden temporary files of out.avt here.
tmps() {
    ls -A | grep '^\.out\.avt\.tmp' || true
}
# wait_tmp: until a temporary file of out.avt exists (10 seconds at most).
wait_tmp() {
    i=0
    while [ -z "$(tmps)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    test -n "$(tmps)"
}

test_expect_success 'setup' '
    avt_write_example -n 3 -e 8 -o s.avt && mkfifo in1 in2
'
test_expect_success 'a writer killed with SIGKILL leaves its temporary file' '
    av-tensor --cat -o out.avt - <in1 & pid=$!
    exec 3>in1 && wait_tmp &&
    kill -9 $pid; wait $pid; exec 3>&-
    test -n "$(tmps)" && tmps >stale
'
test_expect_success 'the next run on the same output removes it' '
    av-tensor --cat -o out.avt s.avt && cmp s.avt out.avt &&
    test -z "$(tmps)"
'
test_expect_success 'but not the temporary file of a writer still running' '
    av-tensor --cat -o out.avt - <in2 & pid=$!
    exec 3>in2 && wait_tmp &&
    live=$(tmps) && test -n "$live" &&
    av-tensor --cat -o out.avt s.avt && test "$(tmps)" = "$live"
    rc=$?; cat s.avt >&3; exec 3>&-; wait $pid; exit $rc
'
test_expect_success 'nor anything else hidden beside the output' '
    : >.out.avt.tmp.1-x && : >.out.avt.tmpABCDEF && : >.other.tmp.999999-h-abcdef &&
    av-tensor --cat -o out.avt s.avt &&
    test -e .out.avt.tmp.1-x && test -e .out.avt.tmpABCDEF && test -e .other.tmp.999999-h-abcdef
'

cf_manifest >clips.tsv
cat >hang-cap <<'SH'
#!/bin/sh
# a captioner that starts a child of its own and hangs
sleep 300 &
echo "$$ $!" >"$CAPDIR/pids.$AVK_START"
wait
SH
chmod +x hang-cap

for sig in TERM INT KILL; do
    test_expect_success "SIG$sig of av-caption-feed ends its captioners and their children" "
        rm -f pids.* && export CAPDIR=\$PWD &&
        { av-caption-feed -j 2 -x ./hang-cap -o o.avt clips.tsv 2>err & } && tool=\$! &&
        wait_for pids.0 && wait_for pids.120 &&
        kill -$sig \$tool; wait \$tool
        pids=\$(cat pids.*) && echo \"captioners and children: \$pids\" &&
        gone \$pids; rc=\$?
        for p in \$pids; do kill -9 \$p 2>/dev/null; done
        test \$rc -eq 0 && test ! -e o.avt
    "
done
test_done
