#!/usr/bin/env python3
"""Origin server for httpjail's proxy integration tests (loopback only).

usage: origin.py [--port N] [--log FILE] [--tls CERT KEY]

Prints "PORT <n>" once listening on 127.0.0.1, then serves until SIGTERM/SIGINT.
HTTP/1.x is parsed by hand on raw sockets, strictly, so that tests can see exactly
what the proxy forwarded. One thread per connection, keep-alive supported.

--log FILE appends one line per request head received:
    <method> <target> host=<Host> conn=<connection serial> n=<request number on it>
and for a request rejected as malformed (answered 4xx/5xx, then closed) one more line
(after the first if the head was fine but the body was not):
    BAD <status> <reason> conn=<serial> n=<number>

Routes (any other path behaves like /echo):
  /echo                 200 JSON: method path query target version host headers
                        body_len body_sha256 conn n (HEAD: headers only)
  /bytes?n=N            N bytes of "0123456789abcdef..." with Content-Length, streamed
  /chunked?n=N&size=S   N chunks of S bytes (5, 1000); trailer=1 adds "X-Trailer: yes"
  /upload               POST/PUT: JSON {body_len, body_sha256}, body hashed as streamed
  /slow?ms=M            sleeps M ms, then answers like /echo
  /close-early          reads the request, closes without answering
  /status?code=C        that status (200-599) with a small body (none for 204/304)
  /close-delimited?n=N  no Content-Length, N bytes, then close (ver=1.0: HTTP/1.0 line)
  /ws                   WebSocket (RFC 6455) echo; ping->pong, close->close
  /count                JSON {requests, connections}: totals so far (this one included)
  /static/PATH          with --static DIR: the file DIR/PATH
Expect: 100-continue is honoured on every route that has a request body.
"""
import argparse, base64, hashlib, json, os, re, signal, socket, ssl, struct, sys
import threading, time, traceback
from http import HTTPStatus
from urllib.parse import parse_qs

CHUNK = 64 * 1024                      # write size and read size for bodies
PATTERN = b"0123456789abcdef" * (CHUNK // 16)
MAX_HEAD = 64 * 1024                   # request line + headers (+ chunked trailers)
MAX_WS_PAYLOAD = 64 * 1024 * 1024
IDLE_TIMEOUT = 300                     # seconds a connection may sit silent
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
TARGET = re.compile(rb"[\x21-\x7e]+")  # visible ASCII, no spaces or controls
VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")   # controls other than HTAB
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})(;.*)?")

lock = threading.Lock()                # guards totals
log_lock = threading.Lock()
totals = {"requests": 0, "connections": 0}
log_file = None


def log(line):
    if log_file is not None:
        with log_lock:
            log_file.write(line + "\n")
            log_file.flush()


class BadRequest(Exception):
    """The client sent something we refuse: answer status, then close."""
    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.status = status


class Closed(Exception):
    """The peer went away in the middle of a message."""


def reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


class Request:
    def __init__(self, method, target, version, headers):
        self.method, self.target, self.version, self.headers = method, target, version, headers
        self.chunked, self.length = False, 0
        self.body_len, self.body_sha256 = 0, hashlib.sha256().hexdigest()
        # Origin-form or absolute-form ("http://host/p?q") targets both end up as path + query.
        rest = target
        m = re.match(r"(?i)https?://[^/?]*", target)
        if m:
            rest = target[m.end():] or "/"
        self.path, _, self.query = rest.partition("?")
        self.params = parse_qs(self.query, keep_blank_values=True)

    def all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def get(self, name):
        values = self.all(name)
        return values[0] if values else None

    def tokens(self, name):
        return {t.strip().lower() for v in self.all(name) for t in v.split(",") if t.strip()}

    def qint(self, name, default, lo=0, hi=1 << 62):
        values = self.params.get(name)
        if not values:
            return default
        if not re.fullmatch(r"[0-9]{1,19}", values[0]) or not lo <= int(values[0]) <= hi:
            raise BadRequest(f"bad query parameter {name}")
        return int(values[0])


class Connection:
    def __init__(self, sock, serial):
        self.sock, self.serial, self.n = sock, serial, 0
        self.rf = sock.makefile("rb", buffering=CHUNK)

    def run(self):
        try:
            self.sock.settimeout(IDLE_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if isinstance(self.sock, ssl.SSLSocket):
                self.sock.do_handshake()
            while self.serve_one():
                pass
        except (Closed, OSError):            # includes timeouts and TLS errors
            pass
        except Exception:                    # a bug in this file: say so, keep serving others
            traceback.print_exc()
        finally:
            try:
                if isinstance(self.sock, ssl.SSLSocket):
                    self.sock.settimeout(1)
                    self.sock.unwrap()       # close_notify, so TLS peers see a clean end
                self.sock.shutdown(socket.SHUT_WR)
            except (OSError, ValueError):
                pass
            self.rf.close()
            self.sock.close()

    # ---- reading -------------------------------------------------------------------

    def read_exact(self, n):
        data = self.rf.read(n)
        if len(data) < n:
            raise Closed()
        return data

    def line(self, budget, status=431):
        """One CRLF-terminated line (without CRLF) within budget bytes, or None at a clean EOF."""
        raw = self.rf.readline(budget + 1)
        if not raw:
            return None
        if len(raw) > budget:
            raise BadRequest("line too long", status)
        if not raw.endswith(b"\n"):
            raise Closed()
        if not raw.endswith(b"\r\n"):
            raise BadRequest("bare LF")
        return raw[:-2]

    def header_lines(self, budget):
        """Header (or trailer) lines up to the empty line; returns [(name, value)], budget left."""
        headers = []
        while True:
            line = self.line(budget)
            if line is None:
                raise Closed()
            budget -= len(line) + 2
            if not line:
                return headers, budget
            name, colon, value = line.partition(b":")
            if not colon or not TOKEN.fullmatch(name):   # also rejects obs-fold and "Name :"
                raise BadRequest("malformed header line")
            value = value.strip(b" \t")
            if BAD_VALUE.search(value):
                raise BadRequest("control character in header value")
            headers.append((name.decode("ascii"), value.decode("latin-1")))

    def read_request(self):
        budget = MAX_HEAD
        line = b""
        while line == b"":                   # RFC 9112 2.2: ignore empty lines before a request
            line = self.line(budget)
            if line is None:
                return None
            budget -= len(line) + 2
        self.n += 1
        parts = line.split(b" ")
        if len(parts) != 3 or not TOKEN.fullmatch(parts[0]) or not TARGET.fullmatch(parts[1]):
            raise BadRequest("malformed request line")
        version = VERSION.fullmatch(parts[2])
        if not version:
            raise BadRequest("malformed HTTP version")
        if version.group(1) != b"1":
            raise BadRequest("unsupported HTTP version", 505)
        headers, _ = self.header_lines(budget)
        req = Request(parts[0].decode(), parts[1].decode(), "1.1" if version.group(2) != b"0"
                      else "1.0", headers)
        hosts = req.all("host")
        if len(hosts) > 1 or (req.version == "1.1" and not hosts):
            raise BadRequest("missing or repeated Host")
        req.host = hosts[0] if hosts else ""
        conn = req.tokens("connection")
        req.keep_alive = "close" not in conn and (req.version == "1.1" or "keep-alive" in conn)
        # Framing: refuse anything ambiguous (CL+TE, differing CLs, unknown codings).
        te, cl = req.all("transfer-encoding"), req.all("content-length")
        if te:
            if cl or req.version == "1.0":
                raise BadRequest("Transfer-Encoding with Content-Length or in HTTP/1.0")
            if [t.strip().lower() for t in ",".join(te).split(",")] != ["chunked"]:
                raise BadRequest("unsupported Transfer-Encoding", 501)
            req.chunked = True
        elif cl:
            values = {v.strip() for v in ",".join(cl).split(",")}
            if len(values) != 1 or not re.fullmatch(r"[0-9]{1,18}", next(iter(values))):
                raise BadRequest("bad Content-Length")
            req.length = int(values.pop())
        with lock:
            totals["requests"] += 1
        log(f"{req.method} {req.target} host={req.host} conn={self.serial} n={self.n}")
        return req

    def read_body(self, req):
        """Streams the body into a sha256; decodes chunked; sends 100 Continue if asked."""
        if req.chunked or req.length:
            expect = req.get("expect")
            if expect is not None:
                if expect.lower() != "100-continue":
                    raise BadRequest("unsupported Expect", 417)
                if req.version == "1.1":
                    self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        digest, total = hashlib.sha256(), 0

        def take(n):
            nonlocal total
            while n:
                data = self.rf.read(min(n, CHUNK))
                if not data:
                    raise Closed()
                digest.update(data)
                total += len(data)
                n -= len(data)

        if req.chunked:
            while True:
                line = self.line(4096, 400)
                m = CHUNK_SIZE.fullmatch(line or b"")
                if line is None or not m:
                    raise BadRequest("malformed chunk size line")
                size = int(m.group(1), 16)
                if size == 0:
                    break
                take(size)
                if self.read_exact(2) != b"\r\n":
                    raise BadRequest("chunk data not followed by CRLF")
            self.header_lines(MAX_HEAD)      # trailers: validated, then ignored
        else:
            take(req.length)
        req.body_len, req.body_sha256 = total, digest.hexdigest()

    # ---- writing -------------------------------------------------------------------

    def head(self, req, status, headers, keep):
        lines = [f"HTTP/1.1 {status} {reason(status)}", "Server: httpjail-test-origin"]
        lines += [f"{k}: {v}" for k, v in headers]
        if not keep:
            lines.append("Connection: close")
        elif req is not None and req.version == "1.0":
            lines.append("Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def reply(self, req, status, body, ctype="text/plain", keep=None, extra=()):
        """A whole response with Content-Length; returns whether to keep the connection."""
        keep = req is not None and req.keep_alive if keep is None else keep
        headers = list(extra)
        no_body = status in (204, 304) or (req is not None and req.method == "HEAD")
        if status not in (204, 304):
            headers += [("Content-Type", ctype), ("Content-Length", str(len(body)))]
        self.sock.sendall(self.head(req, status, headers, keep) + (b"" if no_body else body))
        return keep

    def reply_json(self, req, obj, status=200):
        return self.reply(req, status, json.dumps(obj).encode() + b"\n", "application/json")

    def stream(self, n):
        """Sends n bytes of PATTERN in CHUNK-sized writes."""
        full, rest = divmod(n, CHUNK)
        for _ in range(full):
            self.sock.sendall(PATTERN)
        if rest:
            self.sock.sendall(PATTERN[:rest])

    # ---- one request ---------------------------------------------------------------

    def serve_one(self):
        req = None
        try:
            req = self.read_request()
            if req is None:
                return False
            if req.method == "CONNECT":
                return self.reply(req, 405, b"this is an origin, not a proxy\n", keep=False)
            if req.path == "/ws":
                return self.websocket(req)
            self.read_body(req)
            if static_dir and req.path.startswith("/static/"):
                return self.static(req)
            route = ROUTES.get(req.path, Connection.echo)
            return route(self, req)
        except BadRequest as e:
            log(f"BAD {e.status} {e} conn={self.serial} n={self.n}")
            self.reply(req, e.status, f"{e}\n".encode(), keep=False)
            return False

    def static(self, req):
        """A file under --static DIR (a dumb-HTTP git repository in the tests)."""
        rel = os.path.normpath(req.path[len("/static/"):])
        full = os.path.join(static_dir, rel)
        if rel.startswith("..") or not os.path.isfile(full):
            return self.reply(req, 404, b"not found\n")
        with open(full, "rb") as f:
            return self.reply(req, 200, f.read(), "application/octet-stream")

    def echo(self, req):
        return self.reply_json(req, {
            "method": req.method, "path": req.path, "query": req.query,
            "target": req.target, "version": req.version, "host": req.host,
            "headers": [[k, v] for k, v in req.headers],
            "body_len": req.body_len, "body_sha256": req.body_sha256,
            "conn": self.serial, "n": self.n})

    def bytes_(self, req):
        n = req.qint("n", 0)
        headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))]
        self.sock.sendall(self.head(req, 200, headers, req.keep_alive))
        if req.method != "HEAD":
            self.stream(n)
        return req.keep_alive

    def chunked(self, req):
        n, size = req.qint("n", 5), req.qint("size", 1000, lo=1, hi=1 << 26)
        trailer = req.params.get("trailer", ["0"])[0] == "1"
        data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
        if req.version == "1.0":             # no chunked for HTTP/1.0: close-delimited instead
            self.sock.sendall(self.head(req, 200, [("Content-Type", "text/plain")], False))
            if req.method != "HEAD":
                for _ in range(n):
                    self.sock.sendall(data)
            return False
        headers = [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked")]
        if trailer:
            headers.append(("Trailer", "X-Trailer"))
        self.sock.sendall(self.head(req, 200, headers, req.keep_alive))
        if req.method != "HEAD":
            frame = b"%x\r\n%s\r\n" % (size, data)
            for _ in range(n):
                self.sock.sendall(frame)
            self.sock.sendall(b"0\r\nX-Trailer: yes\r\n\r\n" if trailer else b"0\r\n\r\n")
        return req.keep_alive

    def upload(self, req):
        if req.method not in ("POST", "PUT"):
            return self.reply(req, 405, b"POST or PUT\n", extra=[("Allow", "POST, PUT")])
        return self.reply_json(req, {"body_len": req.body_len, "body_sha256": req.body_sha256})

    def slow(self, req):
        time.sleep(req.qint("ms", 1000, hi=3600 * 1000) / 1000)
        return self.echo(req)

    def close_early(self, req):
        return False                         # run() closes the socket, nothing was sent

    def status(self, req):
        code = req.qint("code", 200, lo=200, hi=599)
        return self.reply(req, code, f"status {code}\n".encode())

    def close_delimited(self, req):
        n = req.qint("n", 1000)
        head = self.head(req, 200, [("Content-Type", "application/octet-stream")], False)
        if req.params.get("ver", [""])[0] == "1.0":
            head = head.replace(b"HTTP/1.1", b"HTTP/1.0", 1).replace(b"Connection: close\r\n", b"")
        self.sock.sendall(head)
        if req.method != "HEAD":
            self.stream(n)
        return False

    def count(self, req):
        with lock:
            snapshot = dict(totals)
        return self.reply_json(req, snapshot)

    # ---- WebSocket -----------------------------------------------------------------

    def websocket(self, req):
        key = req.get("sec-websocket-key")
        if (req.method != "GET" or req.version != "1.1" or "websocket" not in req.tokens("upgrade")
                or "upgrade" not in req.tokens("connection") or not key
                or req.get("sec-websocket-version") != "13" or req.chunked or req.length):
            raise BadRequest("bad WebSocket upgrade")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.sock.sendall((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        while True:
            b0, b1 = self.read_exact(2)
            op, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", self.read_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self.read_exact(8))[0]
            if b0 & 0x70 or not b1 & 0x80 or op not in (0, 1, 2, 8, 9, 10) or (
                    op >= 8 and (length > 125 or not b0 & 0x80)):
                return self.ws_close(struct.pack("!H", 1002))   # protocol error
            if length > MAX_WS_PAYLOAD:
                return self.ws_close(struct.pack("!H", 1009))   # message too big
            mask = self.read_exact(4)
            payload = unmask(self.read_exact(length), mask)
            if op == 8:
                return self.ws_close(payload[:2])               # echo the status code
            if op == 9:
                self.sock.sendall(ws_frame(0x8A, payload))      # pong
            elif op != 10:                                      # data: same FIN + opcode back
                self.sock.sendall(ws_frame(b0 & 0x8F, payload))

    def ws_close(self, payload):
        self.sock.sendall(ws_frame(0x88, payload))
        return False


ROUTES = {
    "/echo": Connection.echo, "/bytes": Connection.bytes_, "/chunked": Connection.chunked,
    "/upload": Connection.upload, "/slow": Connection.slow, "/close-early": Connection.close_early,
    "/status": Connection.status, "/close-delimited": Connection.close_delimited,
    "/count": Connection.count,
}


def ws_frame(b0, payload):
    """An unmasked server frame."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    return (struct.pack("!BBH", b0, 126, n) if n < 65536
            else struct.pack("!BBQ", b0, 127, n)) + payload


def unmask(data, mask):
    # XOR as one big integer: far faster in Python than a per-byte loop.
    n = len(data)
    if not n:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


static_dir = None


def main():
    global log_file, static_dir
    ap = argparse.ArgumentParser(description="origin server for httpjail's tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", metavar="FILE")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--static", metavar="DIR", help="serve DIR's files under /static/")
    args = ap.parse_args()
    static_dir = args.static
    if args.log:
        log_file = open(args.log, "a", encoding="utf-8")

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1024)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        ctx.set_alpn_protocols(["http/1.1"])
        # The handshake runs in the connection's thread, so a stuck client can't block accept().
        listener = ctx.wrap_socket(listener, server_side=True, do_handshake_on_connect=False)

    def stop(signum, frame):
        # Exit at once: connection threads may be blocked in reads. Log lines are flushed as
        # written; taking the lock avoids cutting one in half.
        log_lock.acquire(timeout=1)
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    threading.stack_size(512 * 1024)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        try:
            sock, _ = listener.accept()
        except OSError:                      # e.g. EMFILE under load: back off briefly
            time.sleep(0.01)
            continue
        with lock:
            totals["connections"] += 1
            serial = totals["connections"]
        threading.Thread(target=Connection(sock, serial).run, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
