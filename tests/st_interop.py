#!/usr/bin/python3
"""An independent safetensors reader and writer (struct, json, numpy only)
for tests/t203-safetensors-interop.t. It checks files the C library wrote
and writes files for the C library to read.

  st_interop.py check FILE        FILE holds the fixture (st_util write), exactly
  st_interop.py write FILE        write the fixture in a different style
  st_interop.py check-dump DUMP   DUMP (st_util dump of our file) is the fixture
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
          "I32": "<i4", "I16": "<i2", "I8": "i1", "U16": "<u2", "U8": "u1", "BOOL": "u1"}
FIXTURE = [("F64", [2, 3]), ("F32", [2, 1, 4]), ("F16", [5]), ("BF16", [3, 2]),
           ("I64", [3]), ("I32", []), ("I16", [2, 2]), ("I8", [7]), ("U16", [3]),
           ("U8", [3, 3]), ("BOOL", [6])]
META = {"format": "pt", "config": '{"dim": 64, "depth": 2}',
        "note": 'caf\u00e9 \U0001F600 "q"\\\n\t\x01'}
INF = float("inf")
# the special values, as numbers (F16/BF16 given by value too)
VALUES = {
    "F32": np.array([0.5, -1.25, 3.0e38, INF, -0.0, 1e-45], "<f4"),
    "F64": np.array([0.1, -2.5, 1e308, -INF, 5e-324], "<f8"),
    "F16": np.array([1.0, -2.0, 0.5, 65504.0, -INF, 2.0 ** -24], "<f2"),
    "BF16": np.array([1.0, -2.0, 0.5, 3.3895313892515355e38, -INF], "<f4"),
    "I64": np.array([-2 ** 63, -1, 0, 2 ** 63 - 1], "<i8"),
    "I32": np.array([-2 ** 31, -7, 2 ** 31 - 1], "<i4"),
    "I16": np.array([-2 ** 15, 300, 2 ** 15 - 1], "<i2"),
    "I8": np.array([-128, -1, 127], "i1"),
    "U16": np.array([0, 40000, 65535], "<u2"),
    "U8": np.array([0, 128, 255], "u1"),
    "BOOL": np.array([True, False, True], "?"),
}


def xorshift_bytes(k, n, is_bool):
    x = (2463534242 + 977 * k) & 0xFFFFFFFF
    out = bytearray(n)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = (x & 1) if is_bool else (x & 0xFF)
    return bytes(out)


def value_bytes(dt):
    v = VALUES[dt]
    if dt == "BF16":       # exact: these floats have 16-bit mantissas
        return (v.view("<u4") >> 16).astype("<u2").tobytes()
    return v.astype(DTYPES[dt] if dt != "BOOL" else "u1").tobytes()


def fixture():
    """[(name, dtype, shape, bytes)] in the order st_util writes them."""
    out = []
    for k, (dt, shape) in enumerate(FIXTURE):
        n = int(np.prod(shape, dtype=np.int64)) * np.dtype(DTYPES[dt]).itemsize
        out.append(("rand." + dt, dt, shape, xorshift_bytes(k, n, dt == "BOOL")))
    for dt in VALUES:
        out.append(("values." + dt, dt, [len(VALUES[dt])], value_bytes(dt)))
    out.append(("empty", "F32", [0, 3], b""))
    return out


def read(path):
    """Our own reader: (header dict in file order, metadata, {name: array})."""
    with open(path, "rb") as fp:
        raw = fp.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert 8 + n <= len(raw), "header size beyond the file"
    text = raw[8:8 + n].decode("utf-8")
    header = json.loads(text, object_pairs_hook=lambda pairs: dict(pairs))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    ends = []
    for name, e in header.items():
        b, en = e["data_offsets"]
        size = int(np.prod(e["shape"], dtype=np.int64)) * np.dtype(DTYPES[e["dtype"]]).itemsize
        assert en - b == size, name
        tensors[name] = np.frombuffer(data[b:en], DTYPES[e["dtype"]]).reshape(e["shape"])
        ends.append((b, en))
    ends.sort()
    pos = 0
    for b, en in ends:
        assert b == pos, "hole or overlap in the data area"
        pos = en
    assert pos == len(data), "bytes after the last tensor"
    return raw, n, text, header, meta, tensors


def check(path):
    raw, n, text, header, meta, tensors = read(path)
    assert n % 8 == 0, "header size %d not a multiple of 8" % n
    assert text.rstrip(" ").endswith("}") and len(text) - len(text.rstrip(" ")) < 8
    assert meta == META, meta
    fix = fixture()
    assert list(header) == [f[0] for f in fix], "tensor order"
    for name, dt, shape, want in fix:
        e = header[name]
        assert e["dtype"] == dt and e["shape"] == shape, name
        assert tensors[name].tobytes() == want, "bytes of " + name
    for dt, v in VALUES.items():         # the values, as numbers
        t = tensors["values." + dt]
        if dt == "BF16":
            t = (t.astype("<u4") << 16).view("<f4")
        elif dt == "BOOL":
            t = t.astype("?")
        assert t.dtype == v.dtype and t.tobytes() == v.tobytes(), (dt, t, v)
    print("ok: %d tensors, %d metadata entries" % (len(tensors), len(meta)))


def write(path):
    """Write the fixture in another style than avkit's: spaced JSON with
    ASCII escapes, keys in another order, data laid out in reverse order of
    the header, header padded with spaces."""
    fix = fixture()
    header = {"__metadata__": META}
    offsets, pos = {}, 0
    for name, dt, shape, data in reversed(fix):
        offsets[name] = (pos, pos + len(data))
        pos += len(data)
    for name, dt, shape, data in fix:
        header[name] = {"data_offsets": list(offsets[name]), "shape": shape, "dtype": dt}
    text = json.dumps(header, indent=1, ensure_ascii=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(text)))
        fp.write(text)
        for name, dt, shape, data in reversed(fix):
            fp.write(data)


def check_dump(path):
    meta, rows = {}, []
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            d = json.loads(line)
            if "meta" in d:
                meta[d["meta"]] = d["value"]
            else:
                rows.append(d)
    assert meta == META, meta
    want = [{"name": n, "dtype": dt, "shape": s, "hex": b.hex()} for n, dt, s, b in fixture()]
    assert rows == want, "C's view of the tensors differs"
    print("ok: %d tensors" % len(rows))


if __name__ == "__main__":
    {"check": check, "write": write, "check-dump": check_dump}[sys.argv[1]](*sys.argv[2:])
