#!/usr/bin/env python3
"""A second, independent murmur2 (Kafka's Utils.murmur2 with Java int
semantics), used to produce and cross-check the expected values embedded in
test_partitioner.c.  Run it and compare its output with the table there."""
def to_i32(x):
    x &= 0xffffffff
    return x - (1 << 32) if x & 0x80000000 else x

def murmur2(data: bytes) -> int:
    length = len(data)
    seed = 0x9747b28c
    m = 0x5bd1e995
    r = 24
    h = (seed ^ length) & 0xffffffff
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (data[i4] & 0xff) + ((data[i4+1] & 0xff) << 8) + ((data[i4+2] & 0xff) << 16) + ((data[i4+3] & 0xff) << 24)
        k = (k * m) & 0xffffffff
        k ^= k >> r   # Java >>> on the unsigned value
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rem = length % 4
    base = length & ~3
    if rem == 3:
        h ^= (data[base + 2] & 0xff) << 16
    if rem >= 2:
        h ^= (data[base + 1] & 0xff) << 8
    if rem >= 1:
        h ^= data[base] & 0xff
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return to_i32(h)

known = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
         "a-little-bit-longer-string": -1486304829,
         "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, "abc": 479470107, "": 275646681}
for k, v in known.items():
    got = murmur2(k.encode())
    print(repr(k), got, "OK" if got == v else "MISMATCH %d" % v)
extra = ["key-0", "key-1", "user42", "\xff\x00\x80", "abcd", "abcde"]
for k in extra:
    b = k.encode("latin-1")
    h = murmur2(b)
    print("extra", repr(b), h, "part/7:", (h & 0x7fffffff) % 7)
