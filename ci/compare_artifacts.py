#!/usr/bin/env python3
"""Compare kmlab outputs of two builds (see ci/compare-builds.sh): each mode's JSON results scenario by scenario, and
every artifact file byte for byte. Messages a seated implementation built (named by the
transcript's `implementation` detail) and OpenSSL-built messages (their own random keys) are
left out, as harness/cli/tests/determinism.rs does; scenarios only the newer build has are
listed as new."""
import json, os, sys, filecmp
a, b = sys.argv[1], sys.argv[2]
bad = 0
def files(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f); out[os.path.relpath(p, root)] = p
    return out
def seated(root):
    left = set()
    for rel, p in files(root).items():
        if not rel.endswith('transcript.json'): continue
        folder = rel[:-len('transcript.json')]
        recs = json.load(open(p))['transcript']['records']
        for r in recs:
            if r['action'] not in ('send', 'live-send'): continue
            d = {x['key']: x.get('value') for x in r['details']}
            if 'implementation' in d and isinstance(d.get('message'), str):
                n = int(d['message'][1:7])
                left.add((folder + 'mail/', '%03d-' % n))
    return left
for mode in ['plain', 'cross', 'openssl', 'seat']:
    ja = json.load(open(f'{a}/{mode}.json')); jb = json.load(open(f'{b}/{mode}.json'))
    sa = {s['scenario']: s for s in ja['scenarios']}; sb = {s['scenario']: s for s in jb['scenarios']}
    new = sorted(set(sb) - set(sa)); gone = sorted(set(sa) - set(sb))
    diff = [k for k in sa if k in sb and sa[k] != sb[k]]
    print(f'{mode}.json: {len(sa)} scenarios before, {len(sb)} after; {len(diff)} differ; new: {new}; gone: {gone}')
    bad += len(diff) + len(gone)
    fa, fb = files(f'{a}/{mode}'), files(f'{b}/{mode}')
    skip = seated(f'{a}/{mode}')
    compared = differ = 0
    for rel, p in sorted(fa.items()):
        if mode == 'openssl' and rel.endswith('.eml'): continue
        if any(rel.startswith(f) and os.path.basename(rel).startswith(n) for f, n in skip): continue
        compared += 1
        q = fb.get(rel)
        if q is None or not filecmp.cmp(p, q, shallow=False):
            differ += 1; print('  differs:', rel)
    extra = [r for r in fb if r not in fa]
    print(f'  {mode}: {compared} artifact files compared, {differ} differ; {len(extra)} files only after (new scenarios)')
    bad += differ
ma, mb = open(f'{a}/matrix.json').read(), open(f'{b}/matrix.json').read()
print('matrix.json', 'identical' if ma == mb else 'DIFFERS'); bad += ma != mb
sys.exit(1 if bad else 0)
