"""ACL users over real connections: every rule kind allowed and denied, NOPERM and ACL LOG,
MULTI and blocked reads, AUTH and HELLO, the ACL file across restarts.

Runs against spoold and redis-server alike (the local redis-server is 7.0; where Redis 8's
wording differs from 7.0's, the exact text is checked on Spool only).
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from conftest import IS_SPOOL
from helpers import ErrorReply, is_nil, pairs, version_tuple, wait_until


def denied(reply, text: str) -> None:
    """A NOPERM reply; on Spool, exactly Redis 8's text."""
    assert isinstance(reply, ErrorReply), reply
    assert reply.code == "NOPERM", reply
    if IS_SPOOL:
        assert reply.message == text, reply


def user_client(server, name: str, password: str, **kwargs):
    return server.client(username=name, password=password, **kwargs)


def as_dict(reply) -> dict:
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in pairs(reply)}


@pytest.fixture
def admin(server):
    client = server.client()
    yield client
    client.close()


@pytest.fixture
def user(admin, key):
    """A fresh user name, deleted after the test."""
    made = []

    def make(*rules: str) -> str:
        name = key("user").decode().replace(":", "-")
        name = f"{name}-{len(made)}"
        assert admin.execute_command("ACL", "SETUSER", name, "on", ">pw", *rules) == b"OK"
        made.append(name)
        return name

    yield make
    for name in made:
        admin.execute_command("ACL", "DELUSER", name)


def needs_redis(admin, version: tuple, why: str) -> None:
    """Skips on a redis-server older than `version` (the local one is 7.0), whose behaviour differs."""
    if not IS_SPOOL and version_tuple(admin.info("server")["redis_version"]) < version:
        pytest.skip(f"redis-server before {'.'.join(map(str, version))}: {why}")


def login(server, name: str):
    conn = server.raw()
    assert conn.cmd("AUTH", name, "pw") == b"OK"
    return conn


# -- commands, categories, subcommands -----------------------------------------------------------


def test_single_commands_are_allowed_and_denied(server, user, key):
    name = user("~*", "-@all", "+xadd", "+ping")
    conn = login(server, name)
    assert isinstance(conn.cmd("XADD", key("s"), "*", "f", "v"), bytes)
    assert conn.cmd("PING") == b"PONG"
    denied(conn.cmd("XLEN", key("s")), f"NOPERM User {name} has no permissions to run the 'xlen' command")
    denied(conn.cmd("CONFIG", "GET", "port"), f"NOPERM User {name} has no permissions to run the 'config|get' command")


def test_categories_are_allowed_and_denied(server, user, key, admin):
    admin.xadd(key("s"), {"f": "v"})
    name = user("~*", "+@read", "-@write")
    conn = login(server, name)
    assert len(conn.cmd("XRANGE", key("s"), "-", "+")) == 1
    assert conn.cmd("XLEN", key("s")) == 1
    denied(conn.cmd("XADD", key("s"), "*", "f", "v"), f"NOPERM User {name} has no permissions to run the 'xadd' command")
    denied(conn.cmd("DEL", key("s")), f"NOPERM User {name} has no permissions to run the 'del' command")
    assert admin.xlen(key("s")) == 1


def test_a_category_minus_one_command(server, user, key):
    name = user("~*", "+@stream", "-xdel")
    conn = login(server, name)
    entry = conn.cmd("XADD", key("s"), "*", "f", "v")
    denied(conn.cmd("XDEL", key("s"), entry), f"NOPERM User {name} has no permissions to run the 'xdel' command")
    assert conn.cmd("XLEN", key("s")) == 1


def test_subcommands_are_allowed_one_by_one(server, user):
    name = user("-@all", "+client|id", "+config|get")
    conn = login(server, name)
    assert isinstance(conn.cmd("CLIENT", "ID"), int)
    assert conn.cmd("CONFIG", "GET", "maxclients")
    denied(conn.cmd("CLIENT", "LIST"), f"NOPERM User {name} has no permissions to run the 'client|list' command")
    denied(conn.cmd("CONFIG", "SET", "maxclients", "100"), f"NOPERM User {name} has no permissions to run the 'config|set' command")


def test_dangerous_commands_are_refused_to_a_stream_user(server, user, key, admin):
    admin.xadd(key("s"), {"f": "v"})
    name = user("~*", "+@all", "-@dangerous")
    conn = login(server, name)
    denied(conn.cmd("FLUSHALL"), f"NOPERM User {name} has no permissions to run the 'flushall' command")
    denied(conn.cmd("KEYS", "*"), f"NOPERM User {name} has no permissions to run the 'keys' command")
    assert admin.xlen(key("s")) == 1


def test_auth_hello_and_quit_run_for_a_user_with_no_commands(server, user):
    name = user("-@all")
    conn = login(server, name)
    assert as_dict(conn.cmd("HELLO", "2", "AUTH", name, "pw"))["proto"] == 2
    denied(conn.cmd("PING"), f"NOPERM User {name} has no permissions to run the 'ping' command")
    assert conn.cmd("QUIT") == b"OK"


# -- keys ---------------------------------------------------------------------------------------


def test_key_patterns_allow_matching_keys_only(server, user, key):
    prefix = key("orders").decode()
    name = user(f"~{prefix}:*", "+@stream")
    conn = login(server, name)
    assert isinstance(conn.cmd("XADD", f"{prefix}:1", "*", "f", "v"), bytes)
    denied(conn.cmd("XADD", key("other"), "*", "f", "v"), "NOPERM No permissions to access a key")
    denied(conn.cmd("XRANGE", key("other"), "-", "+"), "NOPERM No permissions to access a key")


def test_read_only_patterns_allow_reads_and_refuse_writes(server, user, key, admin):
    admin.xadd(key("audit"), {"f": "v"})
    admin.xgroup_create(key("audit"), "g", id="0")
    name = user(f"%R~{key('audit').decode()}", "+@stream")
    conn = login(server, name)
    assert len(conn.cmd("XRANGE", key("audit"), "-", "+")) == 1
    assert conn.cmd("XREAD", "STREAMS", key("audit"), "0")
    # XREADGROUP needs read access only, as in Redis (its key spec is RO ACCESS).
    assert conn.cmd("XREADGROUP", "GROUP", "g", "c", "STREAMS", key("audit"), ">")
    # XLEN only tests the key: any matching pattern will do.
    assert conn.cmd("XLEN", key("audit")) == 1
    denied(conn.cmd("XADD", key("audit"), "*", "f", "v"), "NOPERM No permissions to access a key")
    denied(conn.cmd("XTRIM", key("audit"), "MAXLEN", "0"), "NOPERM No permissions to access a key")
    assert admin.xlen(key("audit")) == 1


def test_write_only_patterns_allow_writes_and_refuse_reads(server, user, key):
    name = user(f"%W~{key('inbox').decode()}", "+@stream")
    conn = login(server, name)
    assert isinstance(conn.cmd("XADD", key("inbox"), "*", "f", "v"), bytes)
    denied(conn.cmd("XRANGE", key("inbox"), "-", "+"), "NOPERM No permissions to access a key")
    denied(conn.cmd("XREAD", "STREAMS", key("inbox"), "0"), "NOPERM No permissions to access a key")


def test_every_key_of_a_multi_key_read_is_checked(server, user, key):
    name = user(f"~{key('a').decode()}", "+@stream")
    conn = login(server, name)
    denied(conn.cmd("XREAD", "STREAMS", key("a"), key("b"), "0", "0"), "NOPERM No permissions to access a key")


def test_a_selector_grants_what_the_root_does_not(server, user, key, admin):
    admin.xadd(key("logs"), {"f": "v"})
    name = user(f"~{key('orders').decode()}", "+xadd", f"(%R~{key('logs').decode()} +xrange)")
    conn = login(server, name)
    assert isinstance(conn.cmd("XADD", key("orders"), "*", "f", "v"), bytes)
    assert len(conn.cmd("XRANGE", key("logs"), "-", "+")) == 1
    denied(conn.cmd("XADD", key("logs"), "*", "f", "v"), "NOPERM No permissions to access a key")
    denied(conn.cmd("XRANGE", key("orders"), "-", "+"), "NOPERM No permissions to access a key")


# -- ACL LOG ------------------------------------------------------------------------------------


def test_denials_and_failed_logins_are_logged(server, user, key, admin):
    admin.execute_command("ACL", "LOG", "RESET")
    name = user(f"~{key('mine').decode()}", "+@stream")
    conn = login(server, name)
    conn.cmd("XADD", key("theirs"), "*", "f", "v")
    conn.cmd("XADD", key("theirs"), "*", "f", "v")
    conn.cmd("CONFIG", "SET", "maxclients", "10")
    assert isinstance(server.raw().cmd("AUTH", name, "wrong"), ErrorReply)
    entries = [as_dict(e) for e in admin.execute_command("ACL", "LOG")]
    assert [(e["reason"], e["object"], e["username"], e["count"]) for e in entries] == [
        (b"auth", b"AUTH", name.encode(), 1),
        (b"command", b"config|set", name.encode(), 1),
        (b"key", key("theirs"), name.encode(), 2),
    ]
    assert {e["context"] for e in entries} == {b"toplevel"}
    assert b"user=" + name.encode() in entries[1]["client-info"]
    assert len(admin.execute_command("ACL", "LOG", "1")) == 1
    assert admin.execute_command("ACL", "LOG", "RESET") == b"OK"
    assert admin.execute_command("ACL", "LOG") == []


# -- MULTI --------------------------------------------------------------------------------------


def test_a_denied_command_is_refused_when_queued_and_aborts_exec(server, user, key, admin):
    admin.execute_command("ACL", "LOG", "RESET")
    name = user(f"~{key('s').decode()}", "+@stream", "+@transaction")
    conn = login(server, name)
    assert conn.cmd("MULTI") == b"OK"
    assert conn.cmd("XADD", key("s"), "*", "f", "v") == b"QUEUED"
    denied(conn.cmd("XADD", key("forbidden"), "*", "f", "v"), "NOPERM No permissions to access a key")
    reply = conn.cmd("EXEC")
    assert isinstance(reply, ErrorReply) and reply.code == "EXECABORT", reply
    assert admin.xlen(key("s")) == 0
    entry = as_dict(admin.execute_command("ACL", "LOG")[0])
    assert (entry["reason"], entry["context"]) == (b"key", b"multi")


def test_exec_checks_queued_commands_again(server, user, key, admin):
    name = user(f"~{key('s').decode()}", "+@stream", "+@transaction")
    conn = login(server, name)
    assert conn.cmd("MULTI") == b"OK"
    assert conn.cmd("XADD", key("s"), "*", "f", "v") == b"QUEUED"
    assert conn.cmd("XLEN", key("s")) == b"QUEUED"
    admin.execute_command("ACL", "SETUSER", name, "-xadd")
    replies = conn.cmd("EXEC")
    assert isinstance(replies, list) and len(replies) == 2
    denied(
        replies[0],
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. "
        "This command is no longer allowed for the following reason: no permission to execute the command or subcommand",
    )
    assert replies[1] == 0
    assert admin.xlen(key("s")) == 0


# -- blocked reads ------------------------------------------------------------------------------


def _blocked_read(conn, stream) -> dict:
    box: dict = {}

    def run() -> None:
        try:
            box["reply"] = conn.cmd("XREAD", "BLOCK", "0", "STREAMS", stream, "$")
        except Exception as error:  # noqa: BLE001 - a closed connection is one outcome
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    box["thread"] = thread
    return box


def _wait_blocked(admin, name: str) -> None:
    def blocked() -> bool:
        return any(
            f"user={name}".encode() in line and b"cmd=xread" in line
            for line in admin.execute_command("CLIENT", "LIST").splitlines()
        )

    wait_until(blocked, what=f"{name} blocked in XREAD")


def test_a_blocked_read_is_refused_once_its_rights_are_gone(server, user, key, admin):
    needs_redis(admin, (7, 2), "a woken blocked command is not checked again")
    name = user(f"~{key('s').decode()}", "+@stream")
    conn = login(server, name)
    box = _blocked_read(conn, key("s"))
    _wait_blocked(admin, name)
    admin.execute_command("ACL", "SETUSER", name, "resetkeys")
    admin.xadd(key("s"), {"f": "v"})
    box["thread"].join(10)
    denied(box.get("reply"), "NOPERM No permissions to access a key")


def test_a_blocked_read_is_served_while_its_rights_hold(server, user, key, admin):
    name = user(f"~{key('s').decode()}", "+@stream")
    conn = login(server, name)
    box = _blocked_read(conn, key("s"))
    _wait_blocked(admin, name)
    admin.execute_command("ACL", "SETUSER", name, "-xadd")
    admin.xadd(key("s"), {"f": "v"})
    box["thread"].join(10)
    assert isinstance(box.get("reply"), list) and box["reply"][0][0] == key("s"), box


def test_deleting_a_user_closes_its_connections(server, user, key, admin):
    name = user("~*", "+@all")
    idle = login(server, name)
    blocked = login(server, name)
    box = _blocked_read(blocked, key("s"))
    _wait_blocked(admin, name)
    assert admin.execute_command("ACL", "DELUSER", name) == 1
    idle.wait_closed()
    box["thread"].join(10)
    assert "error" in box, box
    assert not any(f"user={name}".encode() in line for line in admin.execute_command("CLIENT", "LIST").splitlines())


def test_deleting_your_own_user_answers_then_closes(server, user):
    name = user("~*", "+@all")
    conn = login(server, name)
    assert conn.cmd("ACL", "DELUSER", name) == 1
    conn.wait_closed()


# -- logging in ---------------------------------------------------------------------------------


def test_auth_and_hello_log_in_as_a_user(server, user):
    name = user("~*", "+@all")
    conn = server.raw()
    assert conn.cmd("ACL", "WHOAMI") == b"default"
    assert conn.cmd("AUTH", name, "pw") == b"OK"
    assert conn.cmd("ACL", "WHOAMI") == name.encode()
    other = server.raw()
    hello = as_dict(other.cmd("HELLO", "3", "AUTH", name, "pw", "SETNAME", "worker"))
    assert hello["proto"] == 3
    assert other.cmd("ACL", "WHOAMI") == name.encode()
    assert other.cmd("CLIENT", "GETNAME") == b"worker"
    client = user_client(server, name, "pw", protocol=3)
    assert client.execute_command("ACL", "WHOAMI") == name.encode()


def test_wrong_passwords_and_disabled_users_are_refused(server, user, admin):
    name = user("~*", "+@all")
    conn = server.raw()
    wrong = conn.cmd("AUTH", name, "nope")
    assert wrong == ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
    assert conn.cmd("AUTH", "nobody-at-all", "pw") == wrong
    failed_hello = conn.cmd("HELLO", "3", "AUTH", name, "nope", "SETNAME", "x")
    assert failed_hello == wrong
    assert is_nil(conn.cmd("CLIENT", "GETNAME"))
    admin.execute_command("ACL", "SETUSER", name, "off")
    assert conn.cmd("AUTH", name, "pw") == wrong
    admin.execute_command("ACL", "SETUSER", name, "on", "<pw", ">new")
    assert conn.cmd("AUTH", name, "pw") == wrong
    assert conn.cmd("AUTH", name, "new") == b"OK"


def test_a_disabled_default_user_requires_a_login(start_server):
    srv = start_server()
    admin = srv.client()
    admin.execute_command("ACL", "SETUSER", "admin", "on", ">secret", "~*", "&*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")
    conn = srv.raw()
    assert conn.cmd("PING") == ErrorReply("NOAUTH Authentication required.")
    assert conn.cmd("AUTH", "admin", "secret") == b"OK"
    assert conn.cmd("PING") == b"PONG"
    # A connection made before stays logged in as default, as in Redis.
    assert admin.ping()


def test_requirepass_is_the_default_users_password(start_server):
    srv = start_server(requirepass="s3cret")
    conn = srv.raw()
    assert conn.cmd("PING") == ErrorReply("NOAUTH Authentication required.")
    assert conn.cmd("AUTH", "default", "s3cret") == b"OK"
    admin = srv.client()
    user_line = [line for line in admin.execute_command("ACL", "LIST") if line.startswith(b"user default")][0]
    assert b"nopass" not in user_line and b"#" in user_line and b"s3cret" not in user_line
    admin.config_set("requirepass", "")
    assert srv.raw().cmd("PING") == b"PONG"


# -- users as data ------------------------------------------------------------------------------


def test_getuser_list_and_users_describe_the_rules(server, user, key, admin):
    name = user("~orders:*", "%R~audit:*", "-@all", "+@stream", "-xdel", "(~logs:* +xrange)")
    info = as_dict(admin.execute_command("ACL", "GETUSER", name))
    assert set(info) == {"flags", "passwords", "commands", "keys", "channels", "selectors"}
    assert b"on" in info["flags"]
    # SHA-256 of "pw", never the password itself.
    assert info["passwords"] == [b"30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"]
    assert info["commands"] == b"-@all +@stream -xdel"
    assert info["keys"] == b"~orders:* %R~audit:*"
    selector = as_dict(info["selectors"][0])
    assert (selector["commands"], selector["keys"]) == (b"-@all +xrange", b"~logs:*")
    line = [l for l in admin.execute_command("ACL", "LIST") if l.startswith(f"user {name} ".encode())][0]
    assert line.startswith(f"user {name} on ".encode())
    assert b"#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~orders:* %R~audit:*" in line
    assert line.endswith(b"-@all +@stream -xdel (~logs:* resetchannels -@all +xrange)")
    assert name.encode() in admin.execute_command("ACL", "USERS")
    assert admin.execute_command("ACL", "GETUSER", "no-such-user") is None


def test_bad_rules_change_nothing(server, user, admin):
    name = user("~*", "+@stream")
    before = admin.execute_command("ACL", "GETUSER", name)
    with pytest.raises(redis.ResponseError, match="Error in ACL SETUSER modifier '\\+nosuchcommand'"):
        admin.execute_command("ACL", "SETUSER", name, "+xadd", "+nosuchcommand")
    with pytest.raises(redis.ResponseError, match="Syntax error"):
        admin.execute_command("ACL", "SETUSER", name, "-@all", "bogus")
    with pytest.raises(redis.ResponseError, match="Adding a pattern after the"):
        admin.execute_command("ACL", "SETUSER", name, "~foo")
    with pytest.raises(redis.ResponseError, match="exactly 64 characters"):
        admin.execute_command("ACL", "SETUSER", name, "#abc")
    assert admin.execute_command("ACL", "GETUSER", name) == before
    with pytest.raises(redis.ResponseError, match="Unknown command or category"):
        admin.execute_command("ACL", "SETUSER", "never-made", "on", "+@nosuchcategory")
    assert admin.execute_command("ACL", "GETUSER", "never-made") is None
    with pytest.raises(redis.ResponseError, match="The 'default' user cannot be removed"):
        admin.execute_command("ACL", "DELUSER", "default")


def test_cat_dryrun_and_genpass(server, user, key, admin):
    categories = admin.execute_command("ACL", "CAT")
    assert categories[:3] == [b"keyspace", b"read", b"write"] and b"stream" in categories and len(categories) >= 21
    stream = admin.execute_command("ACL", "CAT", "stream")
    assert b"xadd" in stream and b"xreadgroup" in stream
    with pytest.raises(redis.ResponseError, match="Unknown category"):
        admin.execute_command("ACL", "CAT", "nosuch")
    name = user("%R~r:*", "+@stream")
    assert admin.execute_command("ACL", "DRYRUN", name, "XRANGE", "r:1", "-", "+") == b"OK"
    refusal = admin.execute_command("ACL", "DRYRUN", name, "XADD", "r:1", "*", "f", "v")
    if IS_SPOOL:
        assert refusal == f"User {name} has no permissions to access the 'r:1' key".encode()
    else:
        assert b"r:1" in refusal
    assert len(admin.execute_command("ACL", "GENPASS")) == 64
    assert len(admin.execute_command("ACL", "GENPASS", "5")) == 2
    assert admin.execute_command("ACL", "GENPASS") != admin.execute_command("ACL", "GENPASS")


def test_acl_admin_commands_need_the_admin_category(server, user):
    name = user("~*", "+@all", "-@admin")
    conn = login(server, name)
    denied(conn.cmd("ACL", "SETUSER", name, "+@all"), f"NOPERM User {name} has no permissions to run the 'acl|setuser' command")
    assert conn.cmd("ACL", "WHOAMI") == name.encode()


# -- the ACL file -------------------------------------------------------------------------------


def test_users_survive_a_restart_through_the_acl_file(start_server, tmp_path):
    acl = tmp_path / "users.acl"
    acl.write_text("")
    srv = start_server(aclfile=str(acl))
    admin = srv.client()
    admin.execute_command("ACL", "SETUSER", "producer", "on", ">pw", "~orders:*", "-@all", "+xadd")
    assert admin.execute_command("ACL", "SAVE") == b"OK"
    text = acl.read_text()
    assert "user producer on" in text and "pw" not in text.replace("#", " ").split()
    srv.restart()
    conn = login(srv, "producer")
    assert isinstance(conn.cmd("XADD", "orders:1", "*", "f", "v"), bytes)
    denied(conn.cmd("XADD", "other", "*", "f", "v"), "NOPERM No permissions to access a key")
    srv.kill9()
    srv.start()
    conn = login(srv, "producer")
    assert isinstance(conn.cmd("XADD", "orders:2", "*", "f", "v"), bytes)
    denied(conn.cmd("ACL", "WHOAMI"), "NOPERM User producer has no permissions to run the 'acl|whoami' command")


def test_acl_load_is_all_or_nothing(start_server, tmp_path):
    acl = tmp_path / "users.acl"
    acl.write_text("user alice on >pw ~* +@all\n")
    srv = start_server(aclfile=str(acl))
    admin = srv.client()
    needs_redis(admin, (7, 2), "ACL LOAD closes every connection")
    alice = login(srv, "alice")
    acl.write_text("user alice on >pw ~* +@all\nuser bob on >pw +nosuchcommand\n")
    with pytest.raises(redis.ResponseError) as error:
        admin.execute_command("ACL", "LOAD")
    assert ":2:" in str(error.value) and "no change to the previously active ACL rules" in str(error.value)
    assert admin.execute_command("ACL", "USERS") == [b"alice", b"default"]
    # A good file: alice stays connected with her new rights, carol arrives.
    acl.write_text("user alice on >pw ~* -@all +ping\nuser carol on >pw ~* +@all\n")
    assert admin.execute_command("ACL", "LOAD") == b"OK"
    assert alice.cmd("PING") == b"PONG"
    denied(alice.cmd("XLEN", "x"), "NOPERM User alice has no permissions to run the 'xlen' command")
    assert login(srv, "carol").cmd("PING") == b"PONG"
    # alice is gone from the next file: her connection is closed.
    acl.write_text("user carol on >pw ~* +@all\n")
    assert admin.execute_command("ACL", "LOAD") == b"OK"
    alice.wait_closed()


def test_acl_save_and_load_need_an_acl_file(server, admin):
    for sub in ("SAVE", "LOAD"):
        with pytest.raises(redis.ResponseError, match="not configured to use an ACL file"):
            admin.execute_command("ACL", sub)


@pytest.mark.spool_only
def test_config_file_users_and_a_bad_acl_file_at_start(start_server, tmp_path):
    conf = tmp_path / "spoold.conf"
    conf.write_text("user reader on >pw %R~* +@read\n")
    srv = start_server(config=str(conf))
    conn = login(srv, "reader")
    assert conn.cmd("XLEN", "x") == 0
    denied(conn.cmd("XADD", "x", "*", "f", "v"), "NOPERM User reader has no permissions to run the 'xadd' command")
    bad = tmp_path / "bad.acl"
    bad.write_text("user broken on +nosuchcommand\n")
    failing = start_server(start=False, aclfile=str(bad))
    with pytest.raises(Exception):
        failing.start(timeout=10)
    assert "ACL errors" in failing.log_path.read_text()


# -- Spool's own client ---------------------------------------------------------------------------


@pytest.mark.spool_only
def test_the_spool_cli_logs_in_as_a_user(server, user, key):
    from cli import spool

    stream = key("cli").decode()
    name = user(f"~{stream}", "+@stream", "+@connection")
    published = spool("publish", stream, "item", "book", "--json", "--user", name, "--password", "pw", "--port", server.port)
    assert published.code == 0, published
    assert server.client().xlen(stream) == 1
    refused = spool("publish", key("elsewhere").decode(), "item", "book", "--user", name, "--password", "pw", "--port", server.port)
    assert refused.code != 0 and "NOPERM" in refused.err, refused
    wrong = spool("publish", stream, "item", "book", "--user", name, "--password", "nope", "--port", server.port)
    assert wrong.code != 0 and "WRONGPASS" in wrong.err, wrong
