#!/bin/sh
# The default decoding (the decoder skips what the analysis cannot see)
# gives the manifest of --full-decode, byte for byte, on every video of
# the shot tests, on t712's and t713's real footage, on the demo footage
# (whose fade and dissolve moved when --fast analysed at 128 pixels) and
# on an MPEG-4 part 2 video, which the default decodes at half size.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"
. "$TESTS_DIR/real-media.sh"
command -v av-shotcut >/dev/null || skip_all "av-shotcut not built"

# same_as_full VIDEO...: the default's manifest is --full-decode's
same_as_full() {
    av-shotcut "$@" >default.tsv && av-shotcut --full-decode "$@" >full.tsv &&
    test $(wc -l <default.tsv) -gt 1 && diff full.tsv default.tsv
}
for name in cuts fade dissolve wipe flash motion dark short occl; do
    test_expect_success "$name: the default's manifest is --full-decode's" '
        v=$(sc_media '"$name"') && same_as_full "$v"
    '
done
for name in jump-grey dark-grey dark-colour jump-colour whip; do
    test_expect_success "hard cut $name: the default's manifest is --full-decode's" '
        v=$(hard_media '"$name"') && same_as_full "$v"
    '
done
test_expect_success "real shots with short ones: the default's manifest is --full-decode's" '
    v=$(real_short_shots) && same_as_full "$v"
'
test_expect_success 'demo footage: the default'"'"'s manifest is --full-decode'"'"'s' '
    gen-footage -o demo >/dev/null && same_as_full demo/video1.mp4 demo/video2.mp4 demo/video3.mp4
'
test_expect_success 'MPEG-4 part 2 at 640x480 (decoded at half size): the same cuts as --full-decode' '
    v=$(sc_make cuts) &&
    ffmpeg -nostdin -loglevel error -i "$v" -vf scale=640:480 -c:v mpeg4 -q:v 3 m4v.mp4 &&
    av-shotcut m4v.mp4 >m4v.tsv && av-shotcut --full-decode m4v.mp4 >m4v-full.tsv &&
    test "$(sc_starts m4v.tsv)" = "40 75 125" && test "$(sc_starts m4v-full.tsv)" = "40 75 125"
'
test_done
