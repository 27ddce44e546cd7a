# shellcheck shell=bash
# Scale-out step: the cache warm-up into managed Valkey. Sent after logical-common.sh (see logical.sh).

# cache_warm: copy every key of the droplet's Redis into managed Valkey (DUMP/RESTORE, TTLs kept). Keys that already
# exist on the target are left alone: after the cutover the new app's writes are newer than the copy.
step_cache_warm() {
  : "${TARGET_REDIS_HOST:?TARGET_REDIS_HOST is not set}" "${TARGET_REDIS_PORT:?TARGET_REDIS_PORT is not set}"
  : "${REDIS_HOST:?REDIS_HOST is not set}" "${REDIS_PORT:?REDIS_PORT is not set}"
  export REDIS_HOST REDIS_PORT REDIS_PASSWORD REDIS_TLS_CA
  python3 - <<'PY'
import os, socket, ssl, time

class RespError(Exception):
    pass

def connect(host, port, user, password, tls):
    s = socket.create_connection((host, int(port)), timeout=30)
    if tls:
        ctx = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
        s = ctx.wrap_socket(s, server_hostname=host)
    c = (s, s.makefile("rb"))
    if password:
        call(c, [b"AUTH"] + ([user.encode()] if user else []) + [password.encode()])
    return c

def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

def read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read(f) for _ in range(n)]
    raise ConnectionError("unexpected reply %r" % line)

def pipeline(c, commands):
    c[0].sendall(b"".join(encode(a) for a in commands))
    return [read(c[1]) for _ in commands]

def call(c, args):
    (r,) = pipeline(c, [args])
    if isinstance(r, RespError):
        raise r
    return r

env = os.environ.get
src_tls = False
if env("REDIS_TLS_CA"):  # the droplet's own certificate, reached on its private address (not a name it carries)
    src_tls = ssl.create_default_context(cafile=env("REDIS_TLS_CA"))
    src_tls.check_hostname = False
src = connect(env("REDIS_HOST"), env("REDIS_PORT"), None, env("REDIS_PASSWORD"), src_tls)
dst_tls = env("TARGET_REDIS_TLS") == "1"
if dst_tls and env("TARGET_REDIS_CA"):  # a private CA pinned by file (its certificates need not name the address)
    dst_tls = ssl.create_default_context(cafile=env("TARGET_REDIS_CA"))
    dst_tls.check_hostname = False
dst = connect(env("TARGET_REDIS_HOST"), env("TARGET_REDIS_PORT"), env("TARGET_REDIS_USER") or None,
              env("TARGET_REDIS_PASSWORD"), dst_tls)
t0 = time.time()
copied = skipped = 0
cursor = b"0"
while True:
    cursor, keys = call(src, [b"SCAN", cursor, b"COUNT", b"500"])
    if keys:
        replies = pipeline(src, [a for k in keys for a in ([b"DUMP", k], [b"PTTL", k])])
        restores = []
        for i, k in enumerate(keys):
            payload, ttl = replies[2 * i], replies[2 * i + 1]
            if payload is None or isinstance(payload, RespError) or ttl == -2:
                skipped += 1  # expired or deleted meanwhile
                continue
            restores.append([b"RESTORE", k, max(ttl, 0), payload])
        for r in pipeline(dst, restores):
            if isinstance(r, RespError):
                if not str(r).startswith("BUSYKEY"):
                    raise r
                skipped += 1
            else:
                copied += 1
    if cursor == b"0":
        break
print("warm_keys=%d" % copied)
print("warm_skipped=%d" % skipped)
print("warm_ms=%d" % int((time.time() - t0) * 1000))
PY
}
