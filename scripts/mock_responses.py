#!/usr/bin/env python3
"""Minimal scripted Responses-API endpoint used only by scripts/capture-fixtures.

The prompt picks the scenario: "[fail]" answers HTTP 500, "[tool]" asks for an
exec_command call first; anything else gets a plain answer. Call k (1-based) reports
usage input=1000k cached=200k output=50k reasoning=10k. Every request body is appended
to $MOCK_LOG."""
import json, sys, os, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
LOG = os.environ.get("MOCK_LOG", "/dev/null")
MODE = os.environ.get("MOCK_MODE", "plain")
counter = [0]
def sse(ev, data):
    return f"event: {ev}\ndata: {json.dumps(data, separators=(',',':'))}\n\n".encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(404); self.send_header("content-length","0"); self.end_headers()
    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        body = self.rfile.read(n)
        with open(LOG, "ab") as f:
            f.write(json.dumps({"path": self.path, "body": json.loads(body or b"null")}).encode()+b"\n")
        if not self.path.endswith("/responses"):
            self.send_response(404); self.send_header("content-length","0"); self.end_headers(); return
        req0 = json.loads(body or b"{}")
        last_user = ""
        for it in req0.get("input", []):
            if it.get("role") == "user":
                for c in it.get("content", []):
                    if isinstance(c, dict) and c.get("text"): last_user = c["text"]
        mode = "fail" if "[fail]" in last_user else "tool" if "[tool]" in last_user else MODE
        if mode == "fail":
            self.send_response(500); self.send_header("content-type","application/json"); b=b'{"error":{"message":"mock failure"}}'; self.send_header("content-length",str(len(b))); self.end_headers(); self.wfile.write(b); return
        counter[0] += 1
        k = counter[0]
        req = json.loads(body)
        inp = req.get("input", [])
        has_fco = any(i.get("type") == "function_call_output" for i in inp[-3:])
        items = []
        if mode == "tool" and not has_fco:
            items.append({"type":"function_call","name":"exec_command","call_id":f"c{k}","arguments":json.dumps({"cmd":"echo hi from tool; echo 3f2504e0-4f89-11d3-9a0c-0305e82c3301"})})
        else:
            items.append({"type":"message","role":"assistant","id":f"msg_{k}","content":[{"type":"output_text","text":f"Done {k}. decoy session id: 123e4567-e89b-12d3-a456-426614174000"}]})
        out = sse("response.created", {"type":"response.created","response":{"id":f"resp_{k}"}})
        for it in items:
            out += sse("response.output_item.done", {"type":"response.output_item.done","item":it})
        out += sse("response.completed", {"type":"response.completed","response":{"id":f"resp_{k}","usage":{"input_tokens":1000*k,"input_tokens_details":{"cached_tokens":200*k},"output_tokens":50*k,"output_tokens_details":{"reasoning_tokens":10*k},"total_tokens":1050*k}}})
        self.send_response(200)
        self.send_header("content-type","text/event-stream")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
port = int(sys.argv[1])
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
