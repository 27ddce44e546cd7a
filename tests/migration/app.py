"""The harness's stand-in for the chatbot: every request writes one row to PostgreSQL and one key to Redis.

Run with Debian's python3-fastapi + python3-uvicorn + python3-psycopg2 + python3-redis:
    /usr/bin/python3 -m uvicorn app:app --host 127.0.0.2 --port 8000
Connection settings come from the environment, never from argv: DATABASE_URL and REDIS_URL, spelled as the
droplet's app.env spells them (infra/render/app-env.ts: sslmode=require; rediss:// with ssl_ca_certs).

POST /write/{id} answers with what it knows about each write, so the load generator can record it honestly:
  pg    "ok"      committed (COMMIT acknowledged)
        "fail"    certainly not applied (no connection, or the INSERT was rejected before COMMIT was sent)
        "unknown" COMMIT was sent but no answer came back: it may or may not have been applied
  redis the same for the SET, attempted only after the PostgreSQL commit.
HTTP status: 200 when pg is ok, 503 when pg failed for certain, 500 when pg is unknown.
"""
import os
import threading
import time

import psycopg2
import redis
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
_local = threading.local()
_redis_client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)


def _redis() -> "redis.Redis":
    return _redis_client


def _pg():
    """One connection per worker thread, opened on demand; dropped after any error (see _drop).
    Returns (connection, reused): whether it was opened by an earlier request."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=2)
        _local.conn = conn
        return conn, False
    return conn, True


def _drop(conn) -> None:
    _local.conn = None
    try:
        conn.close()
    except psycopg2.Error:
        pass


@app.post("/write/{wid}")
def write(wid: str, delay_ms: int = 0):
    """`delay_ms` keeps the request in the app that long before it writes (a slow request in flight)."""
    if delay_ms > 0:
        time.sleep(min(delay_ms, 30_000) / 1000)
    # A kept connection the server has closed since (a restart: the rollback of a migration restarts the old server)
    # is replaced once, as a pool that checks its connections does (SQLAlchemy's pool_pre_ping): safe, since nothing
    # was committed on it. A fresh connection that fails is not retried.
    while True:
        try:
            conn, reused = _pg()
        except psycopg2.Error as e:
            return JSONResponse({"pg": "fail", "error": str(e).strip()[:200]}, status_code=503)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO writes (id) VALUES (%s)", (wid,))
            break
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            _drop(conn)
            if not reused:
                return JSONResponse({"pg": "fail", "error": str(e).strip()[:200]}, status_code=503)
        except psycopg2.Error as e:
            # Autocommit is off: the transaction was never committed, so the row cannot exist.
            _drop(conn)
            return JSONResponse({"pg": "fail", "error": str(e).strip()[:200]}, status_code=503)
    try:
        conn.commit()
    except psycopg2.Error as e:
        _drop(conn)
        return JSONResponse({"pg": "unknown", "error": str(e).strip()[:200]}, status_code=500)
    try:
        _redis().set(f"w:{wid}", str(int(time.time() * 1000)))
        rstatus = "ok"
    except redis.exceptions.ConnectionError:
        rstatus = "unknown"
    except redis.exceptions.TimeoutError:
        rstatus = "unknown"
    except redis.exceptions.RedisError:
        rstatus = "fail"  # e.g. READONLY: the server refused the command
    return {"pg": "ok", "redis": rstatus}


@app.get("/health")
def health():
    try:
        conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                (in_recovery,) = cur.fetchone()
        finally:
            conn.close()
        _redis().ping()
    except Exception as e:  # noqa: BLE001 - any failure means unhealthy
        return JSONResponse({"ok": False, "error": str(e)[:200]}, status_code=503)
    if in_recovery:
        return JSONResponse({"ok": False, "error": "database is read-only"}, status_code=503)
    return {"ok": True}
