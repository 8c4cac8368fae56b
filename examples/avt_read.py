#!/usr/bin/python3
"""Read an avkit tensor stream (.avt) with numpy alone; checks every CRC.

    records = read_avt("x.avt")   # [(key, {meta}, {name: ndarray}), ...]

bf16 tensors come back widened to float32 (exact). See avt(5)."""
import struct, sys, zlib
import numpy as np

DTYPES = {1: "<f4", 2: "<f2", 3: "<u2", 4: "<f8", 5: "i1", 6: "<i2",
          7: "<i4", 8: "<i8", 9: "u1", 10: "<u2", 11: "?"}

def read_avt(path):
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    def take(n):
        b = f.read(n)
        if len(b) != n:
            raise ValueError(f"{path}: truncated")
        return b
    if take(8) != b"\x89AVT\r\n\x1a\n" or struct.unpack("<II", take(8)) != (1, 0):
        raise ValueError(f"{path}: not an avt version 1 stream")
    records, offsets, pos = [], [], 16
    while (tag := take(4)) == b"AVTR":
        offsets.append(pos)
        hlen, = struct.unpack("<I", take(4))
        h = take(hlen)
        if zlib.crc32(h) != struct.unpack("<I", take(4))[0]:
            raise ValueError(f"{path}: record {len(records)}: header checksum")
        at = 0
        def u(fmt):
            nonlocal at
            v = struct.unpack_from(fmt, h, at)
            at += struct.calcsize(fmt)
            return v if len(v) > 1 else v[0]
        def s():
            nonlocal at
            n = u("<I"); at += n
            return h[at - n:at].decode()
        key, meta = s(), {}
        for _ in range(u("<I")):
            k = s(); meta[k] = s()
        table = []
        for _ in range(u("<I")):
            name = s()
            dtype, ndim, comp, _ = u("<4B")
            shape = u(f"<{ndim}q") if ndim else ()
            table.append((name, dtype, shape if ndim != 1 else (shape,), comp) + u("<QQI"))
        tensors = {}
        for name, dtype, shape, comp, raw, stored, crc in table:
            data = take(stored)
            if zlib.crc32(data) != crc:
                raise ValueError(f"{path}: record {len(records)} tensor '{name}': payload checksum")
            data = zlib.decompress(data) if comp == 1 else data
            a = np.frombuffer(data, DTYPES[dtype]).reshape(shape)
            if dtype == 3:
                a = (a.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = a
        pos += 4 + 4 + hlen + 4 + sum(t[5] for t in table)
        records.append((key, meta, tensors))
    if tag != b"AVTE":
        raise ValueError(f"{path}: bad tag at byte offset {pos}")
    count, = struct.unpack("<Q", body := take(8))
    body += take(8 * count)
    if (zlib.crc32(body) != struct.unpack("<I", take(4))[0] or count != len(records)
            or list(struct.unpack(f"<{count}Q", body[8:])) != offsets):
        raise ValueError(f"{path}: bad end block")
    if struct.unpack("<Q4s", take(12)) != (pos, b"AVTZ") or f.read(1):
        raise ValueError(f"{path}: bad tail")
    return records

if __name__ == "__main__":
    for key, meta, tensors in read_avt(sys.argv[1] if len(sys.argv) > 1 else "-"):
        print(key, meta, {n: (str(a.dtype), a.shape) for n, a in tensors.items()})
