#!/usr/bin/env python3
"""An independent reading of avkit-vocab(5), for the tests: load a
vocabulary, encode texts, and learn merges, following the man page's words
(not the C code). Plain Python 3, no third-party modules.

  captionfeed_bpe_ref.py encode VOCAB < texts     ids of each line
  captionfeed_bpe_ref.py learn N MINCOUNT < texts  the merge lines
"""
import sys

WS, LETTER, DIGIT, OTHER = range(4)


def byte_class(b):
    if b in b" \t\n\v\f\r":
        return WS
    if 0x30 <= b <= 0x39:
        return DIGIT
    if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or b >= 0x80:
        return LETTER
    return OTHER


def pieces(s):
    """Cut bytes into pieces (man page: Pre-tokenization)."""
    out, i, n = [], 0, len(s)
    while i < n:
        c = byte_class(s[i])
        j = i + 1
        while j < n and byte_class(s[j]) == c:
            j += 1
        if c != WS:
            out.append(s[i:j])
            i = j
            continue
        # a whitespace run [i, j)
        if j < n and j - i == 1 and s[i] == 0x20:
            # a single space goes in front of the run that follows
            c2 = byte_class(s[j])
            k = j + 1
            while k < n and byte_class(s[k]) == c2:
                k += 1
            out.append(s[i:k])
            i = k
        elif j < n and s[j - 1] == 0x20:
            out.append(s[i:j - 1])   # the last space goes with the next word
            i = j - 1
        else:
            out.append(s[i:j])
            i = j
    return out


def escape(bs):
    out = []
    for b in bs:
        if 0x20 < b < 0x7F and b != 0x5C:
            out.append(chr(b))
        elif b == 0x5C:
            out.append("\\\\")
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def load(path):
    lines = open(path, "rb").read().decode("ascii").splitlines()
    assert lines[0] == "avkit-bpe 1", "bad first line"
    body = [l for l in lines[1:] if l and not l.startswith("#")]
    assert body[0].startswith("merges ")
    m = int(body[0].split()[1])
    rank, token = {}, {3 + b: bytes([b]) for b in range(256)}
    for r, line in enumerate(body[1:1 + m]):
        f = line.split(" ")
        left, right = int(f[0]), int(f[1])
        rank[(left, right)] = r
        token[259 + r] = token[left] + token[right]
        if len(f) > 2:
            assert f[2] == escape(token[259 + r]), "text mismatch on merge %d" % r
    assert len(body) == 1 + m, "merge count"
    return rank


def merge_everywhere(syms, pair, new):
    out, i = [], 0
    while i < len(syms):
        if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(syms[i])
            i += 1
    return out


def encode(rank, text):
    ids = []
    for p in pieces(text):
        syms = [3 + b for b in p]
        while True:
            cands = [rank[q] for q in zip(syms, syms[1:]) if q in rank]
            if not cands:
                break
            r = min(cands)
            pair = [q for q, v in rank.items() if v == r][0]
            syms = merge_everywhere(syms, pair, 259 + r)
        ids.extend(syms)
    return ids


def learn(texts, size, min_count):
    words = {}
    for t in texts:
        for p in pieces(t):
            words[p] = words.get(p, 0) + 1
    syms = {p: [3 + b for b in p] for p in words}
    merges = []
    while 259 + len(merges) < size:
        counts = {}
        for p, s in syms.items():
            for q in zip(s, s[1:]):
                counts[q] = counts.get(q, 0) + words[p]
        if not counts:
            break
        best = min(counts, key=lambda q: (-counts[q], q[0], q[1]))
        if counts[best] < min_count:
            break
        new = 259 + len(merges)
        merges.append(best)
        for p in syms:
            syms[p] = merge_everywhere(syms[p], best, new)
    return merges


def main():
    texts = [l.rstrip(b"\r\n") for l in sys.stdin.buffer.read().split(b"\n")]
    if texts and texts[-1] == b"":
        texts.pop()
    if sys.argv[1] == "encode":
        rank = load(sys.argv[2])
        for t in texts:
            print(" ".join(str(i) for i in [1] + encode(rank, t) + [2]))
    else:
        token = {3 + b: bytes([b]) for b in range(256)}
        merges = learn(texts, int(sys.argv[2]), int(sys.argv[3]))
        print("merges %d" % len(merges))
        for r, (a, b) in enumerate(merges):
            token[259 + r] = token[a] + token[b]
            print("%d %d %s" % (a, b, escape(token[259 + r])))


main()
