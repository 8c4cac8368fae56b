#!/bin/sh
# Cuts the content score alone misses, made from the real photographs of
# tests/real/: a same-camera jump cut in black-and-white footage (H and S
# never change, so the score is a third of a coloured picture's), two
# views of one dark, grainy scene (grain raises every frame's score, so
# the cut does not stand out) in grey and in colour, and, found before
# too, a colour jump cut and a cut into a fast whip pan. The thumbnail
# cue finds each at frame 40 and nothing else; t712 and the t60x tests
# check that it adds no cut elsewhere.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/real-media.sh"
command -v av-shotcut >/dev/null || skip_all "av-shotcut not built"

for name in jump-grey dark-grey dark-colour jump-colour whip; do
    test_expect_success "$name: one cut, at 40" '
        v=$(hard_media '"$name"') &&
        av-shotcut "$v" >'"$name"'.tsv &&
        test "$(awk -F"\t" "NR > 2 { printf \"%s \", \$4 }" '"$name"'.tsv)" = "40 "
    '
done
test_done
