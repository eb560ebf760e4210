"""Differential test: ../json.c against Python's json module (strict mode).

Usage: python3 diff_test.py ./json_check [N]
Generates N random documents (valid ones and mutations of them), runs the C
driver on all of them, and checks that it accepts exactly what a strict JSON
parser accepts and extracts the same "text" string and integer "n".
"""
import json, random, subprocess, sys

MAX_DEPTH = 64
rng = random.Random(1234)
ALPH = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\x00', '\x1f', '\x7f', 'é', '€', '😀', '\u2028', '\ud800']


def rand_str():
    if rng.random() < 0.3:  # long, mostly plain ASCII: exercises the 8-byte fast path
        return ''.join(rng.choice(ALPH) if rng.random() < 0.05 else rng.choice('abcXYZ019 ~{')
                       for _ in range(rng.randint(7, 40)))
    return ''.join(rng.choice(ALPH) for _ in range(rng.randint(0, 6)))


def rand_value(d):
    k = rng.randint(0, 7 if d < 5 else 4)
    if k == 0: return rand_str()
    if k == 1: return rng.choice([0, -1, 7, 2**53, -2**63, 2**63, 1.5, 16.0, 1e300])
    if k == 2: return rng.choice([True, False, None])
    if k == 3: return rand_str()
    if k == 4: return rng.randint(-10**20, 10**20)
    if k in (5, 6): return {rand_str(): rand_value(d + 1) for _ in range(rng.randint(0, 3))}
    return [rand_value(d + 1) for _ in range(rng.randint(0, 3))]


def rand_doc():
    obj = {rand_str(): rand_value(1) for _ in range(rng.randint(0, 3))}
    if rng.random() < 0.7: obj['text'] = rand_str()
    if rng.random() < 0.5: obj['n'] = rand_value(1) if rng.random() < 0.3 else rng.choice([0, 5, -3, 16.0, 2**63 - 1, 2**63, 1.5, 1e3])
    s = json.dumps(obj, ensure_ascii=rng.random() < 0.5)
    return s.encode('utf-8', 'surrogatepass')


def mutate(b):
    b = bytearray(b)
    for _ in range(rng.randint(1, 3)):
        op = rng.randint(0, 3)
        i = rng.randint(0, len(b))
        if op == 0 and b: del b[min(i, len(b) - 1)]
        elif op == 1: b[i:i] = bytes([rng.choice(b'{}[]",:\\u0123456789abcdefEe.-+ tfn\x00\xff\xc3\xa9')])
        elif op == 2: b = b[:i]
        else: b[i:i] = rng.choice([b'\\u', b'\\ud83d\\ude00', b'\\udc00', b'"x":1,', b'[' * 70, b'\xed\xa0\x80', b'\xc0\xaf'])
    return bytes(b)


def depth(v):
    if isinstance(v, dict): return 1 + max([depth(x) for x in v.values()], default=0)
    if isinstance(v, list): return 1 + max([depth(x) for x in v], default=0)
    return 0


def reject_constant(c):
    raise ValueError(c)


def expected(b):
    try:
        v = json.loads(b.decode('utf-8'), parse_constant=reject_constant)
    except (ValueError, RecursionError):
        return 'err'
    if not isinstance(v, dict) or depth(v) > MAX_DEPTH:
        return 'err'
    try:
        # Lone surrogates are valid JSON text but not Unicode: the C reader rejects them.
        json.dumps(v, ensure_ascii=False).encode('utf-8')
    except UnicodeEncodeError:
        return 'err'
    t = v.get('text')
    text = '-' if not isinstance(t, str) else (t.encode().hex() or '=')
    n = v.get('n', None)
    if 'n' not in v: typ = 0
    elif isinstance(n, str): typ = 1
    elif isinstance(n, bool): typ = 3 if n else 4
    elif isinstance(n, (int, float)): typ = 2
    elif n is None: typ = 5
    elif isinstance(n, dict): typ = 6
    else: typ = 7
    iv = '-'
    if typ == 2:
        # The C side reads integers (and x.0 forms) in int64 range; floats are not compared.
        iv = str(n) if isinstance(n, int) and -2**63 <= n < 2**63 else None
        return ('ok', text, typ, iv)
    return f'ok {text} {typ} {iv}'


def main():
    exe = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    docs = [b'{}', b' {"text":"hi"} ', b'{"text":"a\\u00e9\\ud83d\\ude00\\n"}', b'[]', b'', b'{"text":"\\ud800"}',
            b'{"text":1}', b'{"a":' + b'[' * 63 + b']' * 63 + b'}', b'{"a":' + b'[' * 64 + b']' * 64 + b'}',
            b'{"text":"x","text":"y"}', b'{"n":-9223372036854775808}', b'{"n":9223372036854775808}', b'{"n":16.000}',
            b'{"n":1e2}', b'{"text":"\x01"}', b'{"text":"abc', b'{"text":"abc\\', b'{"text":"\\u12"}', b'{"a":tru}',
            b'{"a":01}', b'{"a":1.}', b'{"a":-}', b'{"a":1e}', b'{,}', b'{"a":1,}', b'{"a" 1}', b'{"a":[1,]}']
    while len(docs) < count:
        d = rand_doc()
        docs.append(d if rng.random() < 0.4 else mutate(d))
    inp = ''.join(d.hex() + '\n' for d in docs)
    out = subprocess.run([exe], input=inp, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(docs), (len(out), len(docs))
    bad = 0
    stats = {'ok': 0, 'err': 0}
    for d, got in zip(docs, out):
        exp = expected(d)
        if isinstance(exp, tuple):  # a number in "n": compare the integer reading separately
            _, text, typ, iv = exp
            g = got.split(' ')
            ok = g[:3] == ['ok', text, str(typ)]
            if ok and iv is not None and g[3] != iv:
                ok = False
            exp = f'ok {text} {typ} {iv}'
        else:
            ok = got == exp
        stats[got.split(' ')[0]] = stats.get(got.split(' ')[0], 0) + 1
        if not ok:
            bad += 1
            if bad <= 10:
                print(f'MISMATCH doc={d!r}\n  expected {exp}\n  got      {got}')
    print(f'{len(docs)} documents: {stats["ok"]} accepted, {stats["err"]} rejected')
    print(f'{len(docs) - bad} passed, {bad} failed')
    sys.exit(1 if bad else 0)


main()
