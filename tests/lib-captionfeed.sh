# Shared helpers and inputs for the av-caption-feed tests (t8NN-*.t).

# cf_values FILE REC NAME: the values of tensor NAME of record REC of the
# stream FILE, space-separated on one line (via av-tensor's .npy export).
cf_values() {
    av-tensor -r "$2" -x "$3" -o cf_values.npy "$1" || return 1
    hl=$(od -An -tu2 -j8 -N2 cf_values.npy | tr -d ' ')
    case $(od -An -c -j10 -N64 cf_values.npy | tr -d ' \n') in
    *i4*) t=d4 ;; *u1*) t=u1 ;; *f4*) t=f4 ;; *) t=x1 ;;
    esac
    tail -c +$((10 + hl + 1)) cf_values.npy | od -An -v -t$t | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'
    echo
}

# cf_dump FILE: av-tensor's text output, then every record's tokens and
# mask values, for golden comparisons.
cf_dump() {
    av-tensor "$1" || return 1
    n=$(av-tensor -c "$1") || return 1
    i=0
    while [ "$i" -lt "$n" ]; do
        echo "record $i tokens: $(cf_values "$1" $i tokens)"
        echo "record $i mask: $(cf_values "$1" $i mask)"
        i=$((i + 1))
    done
}

# A small manifest as av-filter writes it: four clips, one dropped.
cf_manifest() {
    printf 'clip\tvideo\tstart_frame\tend_frame\tstart_time\tend_time\tfps\twidth\theight\tevent\tstatic_frac\tkeep\treason\n'
    printf 'park.mp4#0-48\tpark.mp4\t0\t48\t0.000\t2.000\t24\t320\t240\t0\t0.02\t1\t\n'
    printf 'park.mp4#48-120\tpark.mp4\t48\t120\t2.000\t5.000\t24\t320\t240\t0\t0.81\t0\tstatic\n'
    printf 'park.mp4#120-200\tpark.mp4\t120\t200\t5.000\t8.333\t24\t320\t240\t1\t0.05\t1\t\n'
    printf 'city.mp4#0-75\tcity.mp4\t0\t75\t0.000\t3.000\t25\t640\t360\t0\t0.00\t1\t\n'
}

# Captions of those clips keyed by clip id, JSONL.
cf_captions_jsonl() {
    printf '%s\n' \
        '{"clip": "park.mp4#0-48", "caption": "A dog runs across the park.", "source": "human"}' \
        '{"clip": "park.mp4#48-120", "caption": "The dog sits still."}' \
        '{"clip": "park.mp4#120-200", "caption": "  A dog catches a red ball\u2014twice.\n"}' \
        '{"clip": "city.mp4#0-75", "caption": "Night traffic in the city, caf\u00e9 lights."}'
}

# A caption timeline by video and seconds, TSV.
cf_captions_timeline() {
    printf 'video\tstart\tend\tcaption\n'
    printf 'park.mp4\t0\t1.5\tA dog walks in.\n'
    printf 'park.mp4\t1.5\t6\tThe dog rests in the grass.\n'
    printf 'park.mp4\t6\t9\tA dog chases a ball.\n'
    printf 'city.mp4\t0.5\t2.9\tCars pass at night.\n'
    printf 'beach.mp4\t0\t3\tWaves.\n'
}
