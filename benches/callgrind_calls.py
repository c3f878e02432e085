#!/usr/bin/env python3
"""Instructions per stdio call of `relay serve`, counted by callgrind.

Usage: python3 benches/callgrind_calls.py BINARY N send|get
Prints the total instruction count of one `relay serve --agent alice`
process that answers `initialize` and then N sequential calls
(`send_message`, or `get_messages` with peek). Run it for two values of N
and divide the difference by the difference of N to get the cost per call
without start-up and shutdown. Instruction counts do not depend on the
machine's load, so two builds can be compared on a busy machine (see
docs/PERFORMANCE.md).
"""
import json, os, subprocess, sys, tempfile
binary, n, tool = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = tempfile.mkdtemp(dir=os.environ.get('TMPDIR', 'target'))
open(f'{d}/c.toml','w').write('')
out = f'{d}/cg.out'
env = dict(os.environ, RELAY_CONFIG=f'{d}/c.toml')
for k in ['RELAY_AGENT','RELAY_ROLE','RELAY_CAPABILITIES']: env.pop(k, None)
# create the agents first (outside measurement)
subprocess.run([binary,'--db',f'{d}/r.db','init','--yes'],env=env,capture_output=True)
p = subprocess.Popen(['valgrind','--tool=callgrind',f'--callgrind-out-file={out}',binary,'--db',f'{d}/r.db','serve','--agent','alice'],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, bufsize=1)
def rpc(obj):
    p.stdin.write(json.dumps(obj)+'\n'); p.stdin.flush()
    if 'id' in obj:
        while True:
            line = p.stdout.readline()
            m = json.loads(line)
            if m.get('id') == obj['id']: return m
rpc({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"cg","version":"0"}}})
rpc({"jsonrpc":"2.0","method":"notifications/initialized"})
for i in range(n):
    if tool == 'send':
        args = {"name":"send_message","arguments":{"to":"bob","content":f"message {i}"}}
    else:
        args = {"name":"get_messages","arguments":{"peek":True,"limit":5}}
    r = rpc({"jsonrpc":"2.0","id":i+1,"method":"tools/call","params":args})
    assert r['result']['isError'] is False, r
p.stdin.close(); p.wait()
total = 0
for line in open(out):
    if line.startswith('totals:') or line.startswith('summary:'):
        total = int(line.split()[1]); break
print(total)
