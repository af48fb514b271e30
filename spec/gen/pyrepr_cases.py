"""Writes spec/fixtures/pyrepr_cases.lua: JSON texts and what Python prints for them.

Each case is a JSON text and repr(json.loads(text)) as Python computes it, the reference for
qora.pyrepr (which sees the same text through qora.core.json_decode). Run once from the top of
the tree: python3 spec/gen/pyrepr_cases.py. The suite reads the committed file, never Python.
"""
import json
import math
import random
import struct
import sys

from lua_literal import lua_string

STRINGS = [
    "plain", "", "it's", 'say "hi"', "it's \"both\"", "back\\slash", "tab\tnew\nret\r",
    "\x01\x1b\x1f\x7f", "\x85\xa0\xad", "é Çà", "東京", "🙂", "\u200b\u2028\u2029",
    "\ufeff", "\ue000", "\U000e0001", "\u0378", "\U0010ffff", "e\u0301", "\u3000\u2003",
    "\u00ff\u0100", "\U0001f600\U000f0000", "'", '"', "\\'", "\u061c\u180e", "\ud7ff\uf8ff",
]

FLOAT_TEXTS = [
    "1.0", "-0.0", "0.1", "0.5", "2.5", "100.0", "1e16", "1e15", "1234567890123456.0",
    "12345678901234567.0", "1e-4", "1e-5", "0.00012345", "1.5e300", "5e-324",
    "1.7976931348623157e308", "3.14159", "1e22", "1e21", "123456789.123",
    "0.30000000000000004", "2e-7", "4.35", "1e400", "-1e400", "9007199254740993.0",
    "0.001", "1e-3", "1E2", "-2.5e-10", "1.25e+17",
]

INT_TEXTS = ["0", "-0", "1", "-1", "42", "9223372036854775807", "-9223372036854775808"]

STRUCTS = [
    '{"a": [1, {"b": null}], "c": true, "d": false, "e": {}, "f": []}',
    '{"a": 1, "b": 2, "a": 3}',
    '{"z": 1, "a": 2, "m": [3, 2, 1]}',
    '{"\u00e9t\u00e9": "caf\u00e9", "it\'s": "x", "q\\"": 1}',
    '[[], [[]], {}, [{}], null, [null, null]]',
    '{"type": "function", "function": {"name": "f", "parameters": {"type": "object", '
    '"properties": {"n": {"type": "integer", "minimum": 0, "default": 1.5}}, '
    '"required": ["n"]}}}',
]


def random_doubles(n):
    rng = random.Random(20261204)
    out = []
    while len(out) < n:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            out.append(repr(x))
    for k in range(-1074, 1024, 29):
        x = math.ldexp(1.0, k)
        out += [repr(math.nextafter(x, 0)), repr(math.nextafter(x, math.inf))]
    # At a power of two the nearest short decimal may not read back while a neighbour does.
    out += [repr(math.ldexp(1.0, k)) for k in range(-1074, 1024, 3)]
    return out


def main():
    texts = [json.dumps(s) for s in STRINGS]
    texts += [json.dumps(s, ensure_ascii=False) for s in STRINGS if not s.isascii()]
    texts += FLOAT_TEXTS + INT_TEXTS + STRUCTS
    texts += random_doubles(300)
    with open("spec/fixtures/pyrepr_cases.lua", "w") as f:
        f.write("-- pyrepr_cases.lua: { JSON text, Python's repr(json.loads(text)) } pairs.\n")
        f.write(f"-- Generated once by spec/gen/pyrepr_cases.py with Python "
                f"{sys.version.split()[0]};\n-- the expectations are Python's, not qora's.\n")
        f.write("return {\n")
        for t in texts:
            f.write(f"  {{ {lua_string(t)},\n    {lua_string(repr(json.loads(t)))} }},\n")
        f.write("}\n")


main()
