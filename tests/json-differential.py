#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""
Differential test of json_parse_strict() against Python's json module.

  json-differential.py JSON_DUMP CORPUS_DIR [COUNT]

The reference is Python's json with the project's rules added on top
(SECURITY.md, "Strict JSON"): object_pairs_hook refuses duplicate names,
parse_constant refuses NaN/Infinity, parse_int refuses integers outside
int64/uint64, parse_float refuses non-finite results and non-zero literals
that round to zero, and strings or names containing U+0000 or a surrogate
are refused, as is nesting deeper than 64 containers.  Input must be UTF-8
(Python's strict decoder: no encoded surrogates, no overlong forms).

Every input of the fuzz seed corpus plus COUNT generated ones (default 30000,
a fixed seed: the same inputs on every run) goes through both; they must
agree on accept/refuse, and on accepted inputs on the value, with types
(1 and 1.0 differ).  Prints TAP.
"""
import json
import math
import os
import random
import struct
import subprocess
import sys

MAX_DEPTH = 64


class Refused(Exception):
    pass


def pairs_hook(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise Refused("duplicate name")
        seen.add(k)
    return dict(pairs)


def parse_constant(name):
    raise Refused("not JSON: " + name)


def parse_int(s):
    v = int(s)
    if not -(2**63) <= v < 2**64:
        raise Refused("integer beyond 64 bits")
    return v


def parse_float(s):
    v = float(s)
    if not math.isfinite(v):
        raise Refused("not a finite double")
    mantissa = s.lower().split("e")[0]
    if v == 0 and any(c in "123456789" for c in mantissa):
        raise Refused("rounds to zero")
    return v


def check_text(s):
    if "\0" in s or any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        raise Refused("NUL or surrogate in a string")


def canon(v, depth=0):
    """The form tests/json-dump.c prints; also enforces the string and depth rules."""
    if v is None:
        return "n"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if isinstance(v, int):
        return ("u%d" if v > 2**63 - 1 else "i%d") % v
    if isinstance(v, float):
        return "d" + format(v, ".17g")
    if isinstance(v, str):
        check_text(v)
        return "s" + v.encode().hex()
    if depth >= MAX_DEPTH:
        raise Refused("nested too deeply")
    if isinstance(v, list):
        return "[" + ",".join(canon(x, depth + 1) for x in v) + "]"
    out = []
    for k, x in v.items():
        check_text(k)
        out.append(k.encode().hex() + ":" + canon(x, depth + 1))
    return "{" + ",".join(out) + "}"


def reference(data):
    try:
        text = data.decode("utf-8")
        v = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=parse_constant,
                       parse_int=parse_int, parse_float=parse_float)
        return "ok " + canon(v)
    except (Refused, ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        return "refused"


# ---- generated inputs ---------------------------------------------------------

NUMBERS = [
    "0", "-0", "1", "-1", "7", "10", "123456789", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
    "99999999999999999999999999", "1.0", "-0.0", "0.5", "1e5", "1E+5", "1e-5", "-2.5E-3", "1e308",
    "1e309", "1e400", "-1e400", "1e-400", "-1e-400", "0e1000", "0.0e-1000", "0e-99999",
    "4.9e-324", "2.4703282292062328e-324", "2.4703282292062327e-324", "1.7976931348623157e308",
    "1.7976931348623158e308", "1.7976931348623159e308", "9007199254740993", "9007199254740993.0",
    "0.1", "3.141592653589793238462643383279", "1.", "1.e5", ".5", "-.5", "+1", "01", "-01", "00",
    "1e", "1e+", "-", "0x10", "1_0", "NaN", "-NaN", "Infinity", "-Infinity", "infinity", "nan",
    "1.5e3.2", "1ee5", "--1", "\u0661",
]
ESCAPES = [
    "\\u0000", "\\u0001", "\\u001f", "\\u0041", "\\u00e9", "\\u00E9", "\\u20ac", "\\uffff", "\\ufffe",
    "\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d\\ude00", "\\ud83d\\u0041", "\\ud800\\ud800",
    "\\udc00\\ud800", "\\ud800\\u", "\\u12", "\\u12g4", "\\x41", "\\'", "\\a", "\\\"", "\\\\", "\\/",
    "\\b", "\\f", "\\n", "\\r", "\\t", "\\", "\\U0041",
]
RAW = [
    b"a", b"Z", b" ", b"~", b"\x7f", b"\x00", b"\x01", b"\x09", b"\x0a", b"\x1f", b"\xc3\xa9",
    b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xef\xbf\xbf", b"\xed\x9f\xbf", b"\xee\x80\x80",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf",
    b"\xf0\x8f\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff",
    b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc2\xa0",
]
WHITESPACE = [b"", b" ", b"\t", b"\n", b"\r", b"\r\n  ", b"\x0b", b"\x0c", b"\xc2\xa0", b"\x00"]


def gen_string(rnd):
    out = b'"'
    for _ in range(rnd.randrange(0, 6)):
        r = rnd.random()
        if r < 0.35:
            out += rnd.choice(ESCAPES).encode()
        elif r < 0.7:
            out += rnd.choice(RAW)
        else:
            out += bytes(rnd.choice(b"abcxyz_-:/ ") for _ in range(rnd.randrange(1, 4)))
    return out + b'"'


def gen_value(rnd, depth):
    r = rnd.random()
    if depth > 70 or r < 0.25:
        return rnd.choice(NUMBERS).encode()
    if r < 0.45:
        return gen_string(rnd)
    if r < 0.5:
        return rnd.choice([b"true", b"false", b"null", b"tru", b"nul", b"True"])
    ws = lambda: rnd.choice(WHITESPACE[:6]) if rnd.random() < 0.9 else rnd.choice(WHITESPACE)
    n = rnd.randrange(0, 4)
    if depth > 50 and rnd.random() < 0.8:
        n = 1  # reach the depth limit
    if r < 0.75:
        items = [ws() + gen_value(rnd, depth + 1) + ws() for _ in range(n)]
        return b"[" + b",".join(items) + b"]"
    names = []
    for _ in range(n):
        if names and rnd.random() < 0.2:
            names.append(rnd.choice(names))  # a duplicate, maybe spelled another way
            if rnd.random() < 0.5:
                names[-1] = names[-1].replace(b"a", b"\\u0061", 1)
        else:
            names.append(rnd.choice([gen_string(rnd), b'"a"', b'"a\\u0000"', b'"\\u0061"', b'""']))
    items = [ws() + k + ws() + b":" + ws() + gen_value(rnd, depth + 1) + ws() for k in names]
    return b"{" + b",".join(items) + b"}"


def mutate(rnd, data):
    data = bytearray(data)
    for _ in range(rnd.randrange(1, 4)):
        op = rnd.randrange(3)
        pos = rnd.randrange(len(data) + 1)
        if op == 0 and data:
            del data[min(pos, len(data) - 1)]
        elif op == 1:
            data[pos:pos] = bytes([rnd.choice(b'{}[],:"\\0123456789.eE+-tfnu \x00\x80\xff')])
        elif data:
            data[min(pos, len(data) - 1)] = rnd.randrange(256)
    return bytes(data)


def generated(count):
    rnd = random.Random(20261130)
    out = []
    for i in range(count):
        depth = 0 if i % 50 else rnd.randrange(55, 75)
        v = gen_value(rnd, depth)
        if depth:  # wrap to the chosen depth
            v = b"[" * depth + v + b"]" * depth
        pad = lambda: rnd.choice(WHITESPACE) if rnd.random() < 0.2 else b""
        v = pad() + v + pad()
        out.append(mutate(rnd, v) if rnd.random() < 0.3 else v)
    return out


def main():
    dump, corpus = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 30000
    inputs = []
    for name in sorted(os.listdir(corpus)):
        with open(os.path.join(corpus, name), "rb") as f:
            inputs.append(f.read())
    inputs += generated(count)
    stream = b"".join(struct.pack("<I", len(d)) + d for d in inputs)
    proc = subprocess.run([dump], input=stream, stdout=subprocess.PIPE, check=True)
    lines = proc.stdout.decode().split("\n")[:-1]
    assert len(lines) == len(inputs), (len(lines), len(inputs))

    failures = 0
    accepted = 0
    for data, line in zip(inputs, lines):
        ours = "refused" if line.startswith("refused") else line
        ref = reference(data)
        accepted += ref != "refused"
        if ours != ref:
            failures += 1
            if failures <= 20:
                print("# differs on %r\n#   json_parse_strict: %s\n#   reference:         %s" % (data[:200], line[:200], ref[:200]))
    print("1..1")
    print("%s 1 - %d inputs (%d accepted by the reference), %d differ" %
          ("ok" if failures == 0 else "not ok", len(inputs), accepted, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
