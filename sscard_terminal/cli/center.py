"""``sscard center``: run and feed the settlement center.

Thin calls into :mod:`sscard_terminal.center`; every error is one line with the
cause and what to do. A refusal by the center ends ``call`` with exit code 7
(``ExitCode.CENTER_REFUSED``), an answer that never came with 8.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sscard_terminal.cli.options import stop_on_broken_pipe
from sscard_terminal.errors import ExitCode

F = TypeVar("F", bound=Callable[..., Any])

ENV_DB = "SSCARD_CENTER_DB"
ENV_TOKEN = "SSCARD_CENTER_ADMIN_TOKEN"


class CenterCliError(Exception):
    def __init__(self, message: str, code: int = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def _errors(func: F) -> F:
    """One line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sscard_terminal.center.policy import PolicyError
        from sscard_terminal.center.refusals import Refusal

        try:
            return func(*args, **kwargs)
        except CenterCliError as exc:
            click.echo(f"sscard center: {exc}", err=True)
            sys.exit(int(exc.code))
        except Refusal as exc:
            click.echo(f"sscard center: {exc.err_msg}", err=True)
            sys.exit(int(ExitCode.CENTER_REFUSED))
        except PolicyError as exc:
            click.echo(f"sscard center: policy: {exc}", err=True)
            sys.exit(int(ExitCode.USAGE))
        except KeyboardInterrupt:
            click.echo("sscard center: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            stop_on_broken_pipe()
        except OSError as exc:
            click.echo(
                f"sscard center: {exc.strerror or exc} ({exc.filename or 'system'}); "
                "check the path and its permissions",
                err=True,
            )
            sys.exit(int(ExitCode.USAGE))
        except Exception as exc:
            from sqlalchemy.exc import ArgumentError, OperationalError

            if isinstance(exc, (ArgumentError, OperationalError)):
                line, code = _database_error(exc, kwargs.get("db_url"))
                click.echo(f"sscard center: {line}", err=True)
                sys.exit(int(code))
            # a bug: still one line
            first = str(exc).splitlines()[0] if str(exc) else ""
            click.echo(
                f"sscard center: internal error ({type(exc).__name__}: {first[:200]}); "
                "run with -vv for details",
                err=True,
            )
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def _database_error(exc: Exception, db_url: str | None) -> tuple[str, ExitCode]:
    """A database that cannot be opened: a SQLite path is the user's to fix (2), a
    database server that does not answer is unreachable (3)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from sscard_terminal.center.db import normalise_url

    cause = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    try:
        url = make_url(normalise_url(db_url or ""))
        shown = url.render_as_string(hide_password=True)
        sqlite = url.get_backend_name() == "sqlite"
    except Exception:
        shown, sqlite = str(db_url), True
    if isinstance(exc, ArgumentError) or sqlite:
        return (
            f"cannot open the database {shown} ({cause}); give --db sqlite:///PATH/FILE.db "
            "in a directory that exists and is writable, or a PostgreSQL URL",
            ExitCode.USAGE,
        )
    return (
        f"cannot reach the database {shown} ({cause}); check that the server runs and "
        "the URL, user and password of --db",
        ExitCode.NO_READER,
    )


_db_option = click.option(
    "--db",
    "db_url",
    default=lambda: os.environ.get(ENV_DB, "sqlite:///sscard-center.db"),
    show_default="sqlite:///sscard-center.db, or $SSCARD_CENTER_DB",
    help="Database URL (sqlite:///file.db, postgresql+psycopg://user@host/db) or a file path.",
)
_policy_option = click.option(
    "--policy",
    "policy_ref",
    default="330200",
    show_default=True,
    help="Area code of a shipped policy, or a policy file (YAML/JSON).",
)


def _private_dir(path: Path) -> None:
    """Make a directory (and missing parents) only its owner can enter (0700);
    an existing one is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600: secrets, tokens, person files
    with their ID numbers: no personal data readable by others), in a directory
    made 0700 when it is new."""
    _private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _admin_token(token_file: Path) -> str:
    if os.environ.get(ENV_TOKEN):
        return os.environ[ENV_TOKEN]
    if token_file.exists():
        token = token_file.read_text(encoding="utf-8").strip()
        if len(token) < 16:
            raise CenterCliError(f"{token_file}: the admin token must be 16 characters or more")
        return token
    token = secrets.token_urlsafe(32)
    _write_private(token_file, token + "\n")
    return token


@click.group()
def center() -> None:
    """The settlement center: the national interface over HTTP, with the city's rules."""


@center.command()
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on.",
)
@_policy_option
@click.option(
    "--admin-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("sscard-center.admin-token"),
    show_default=True,
    help=f"Admin token (made with mode 0600 when missing; ${ENV_TOKEN} wins).",
)
@click.option(
    "--ssl-certfile",
    type=click.Path(exists=True, dir_okay=False),
    help="Serve HTTPS with this certificate (PEM).",
)
@click.option(
    "--ssl-keyfile",
    type=click.Path(exists=True, dir_okay=False),
    help="The certificate's private key (PEM).",
)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Bring the schema up to date first.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="uvicorn's log level (ID numbers and names are masked).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (for PostgreSQL; SQLite has one writer at a time).",
)
@click.option(
    "--request-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=3600),
    help="Seconds a client has to send a whole request (line, headers, body) "
    "after connecting or after its last answer; slower connections are closed.",
)
@_errors
def serve(
    db_url: str,
    host: str,
    port: int,
    policy_ref: str,
    admin_token_file: Path,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    migrate: bool,
    log_level: str,
    workers: int,
    request_timeout: float,
) -> None:
    """Serve POST /fsi/api/rsfComIfsService/callService and the admin API."""
    import uvicorn

    from sscard_terminal.center.api import create_app, prepare_to_serve
    from sscard_terminal.center.connections import ENV_REQUEST_TIMEOUT, guarded_protocol
    from sscard_terminal.center.db import Database
    from sscard_terminal.center.db import migrate as run_migrations
    from sscard_terminal.center.masking import install_log_masking
    from sscard_terminal.center.policy import load_policy

    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise CenterCliError("give both --ssl-certfile and --ssl-keyfile, or neither")
    policy = load_policy(policy_ref)
    sock = _listen(host, port)
    db = Database(db_url)
    if migrate:
        run_migrations(db)
    token = _admin_token(admin_token_file)
    if workers > 1:
        sock.close()  # uvicorn's supervisor binds its own, shared by the workers
        if db.is_sqlite:
            click.echo(
                "warning: SQLite has one writer at a time; more workers wait on each other",
                err=True,
            )
        os.environ.update(
            SSCARD_CENTER_DB=db.url,
            SSCARD_CENTER_POLICY=policy_ref,
            SSCARD_CENTER_ADMIN_TOKEN=token,
        )
        os.environ[ENV_REQUEST_TIMEOUT] = str(request_timeout)
        db.dispose()
        click.echo(f"center for {policy.admdvs} on {host}:{port}, {workers} workers", err=True)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        uvicorn.run(
            "sscard_terminal.center.api:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http="sscard_terminal.center.connections:GuardedProtocol",
            log_level=log_level,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            server_header=False,
        )
        return
    app = create_app(db, policy, admin_token=token)
    prepare_to_serve(db)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        server_header=False,
        http=guarded_protocol(request_timeout),
    )
    install_log_masking()
    scheme = "https" if ssl_certfile else "http"
    source = f"${ENV_TOKEN}" if os.environ.get(ENV_TOKEN) else str(admin_token_file)
    click.echo(
        f"center for {policy.admdvs} on {scheme}://{host}:{port} "
        f"({db.backend}: {db.masked_url()}); admin token in {source}",
        err=True,
    )
    # uvicorn stops gracefully on SIGTERM and then raises the signal again: let that
    # end the process with status 0 instead of being killed by it
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        db.dispose()


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else happens, so that a port in
    use is one clear line instead of uvicorn's log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise CenterCliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another --port (or stop what listens there)"
        ) from None


@center.command()
@_db_option
@_errors
def migrate(db_url: str) -> None:
    """Create or upgrade the schema (Alembic)."""
    from sscard_terminal.center.db import Database, current_revision
    from sscard_terminal.center.db import migrate as run_migrations

    db = Database(db_url)
    run_migrations(db)
    click.echo(f"schema at revision {current_revision(db)} ({db.masked_url()})")


@center.command()
@_db_option
@_policy_option
@click.option(
    "--persons",
    default=0,
    show_default=True,
    type=click.IntRange(0, 9_999_999),
    help="Generated persons to add (7200000 = Ningbo's card count).",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="The demo institutions, catalogue and named persons of the guide.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("center-seed"),
    show_default=True,
    help="Where institutions.json and the person files go.",
)
@click.option(
    "--person-file",
    "person_files",
    multiple=True,
    metavar="CARD_NO",
    help="Also write the person file of this card (repeatable).",
)
@_errors
def seed(
    db_url: str, policy_ref: str, persons: int, demo: bool, out: Path, person_files: tuple[str, ...]
) -> None:
    """Seed demo data and generated persons; write secrets and person files."""
    from sscard_terminal.center import seed as seeding
    from sscard_terminal.center.admin import cards as admin_cards
    from sscard_terminal.center.clock import system_clock
    from sscard_terminal.center.db import Database
    from sscard_terminal.center.db import migrate as run_migrations
    from sscard_terminal.center.policy import load_policy
    from sscard_terminal.center.seed.bulk import seed_bulk

    policy = load_policy(policy_ref)
    db = Database(db_url)
    run_migrations(db)
    now = system_clock()
    if demo:
        result = seeding.seed(db, policy, now, demo=True)
        if result.get("demo"):
            _write_demo(out, result["demo"])
            click.echo(
                f"demo data: {len(result['demo']['persons'])} persons, "
                f"{len(result['demo']['institutions'])} institutions; secrets in "
                f"{out / 'institutions.json'}, person files in {out / 'persons'}"
            )
        else:
            click.echo(f"demo data already there; {result.get('demo_note', '')}")
    if persons:
        with click.progressbar(
            length=persons,
            label=f"seeding {persons} persons",
            file=sys.stderr,
            show_pos=True,
            show_eta=True,
        ) as bar:
            added = seed_bulk(db, policy, now, persons, progress=bar.update)
        click.echo(f"added {added['added']} generated persons (now {added['total_generated']})")
    for card_no in person_files:
        with db.transaction() as session:
            data = admin_cards.person_file(session, card_no)
        path = out / "persons" / f"{card_no.upper()}.json"
        _write_person_file(path, data)
        click.echo(f"wrote {path}")
    db.dispose()


def _write_person_file(path: Path, data: dict[str, Any]) -> None:
    _write_private(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _write_demo(out: Path, demo: dict[str, Any]) -> None:
    _private_dir(out)
    _write_private(
        out / "institutions.json",
        json.dumps(demo["institutions"], ensure_ascii=False, indent=2) + "\n",
    )
    index = {}
    for key, person in demo["persons"].items():
        if person["person_file"] is not None:
            _write_person_file(out / "persons" / f"{key}.json", person["person_file"])
        index[key] = {k: v for k, v in person.items() if k not in ("person_file", "id_number")}
    _write_private(out / "demo.json", json.dumps(index, ensure_ascii=False, indent=2) + "\n")


@center.command("person-file")
@_db_option
@click.option("--card-no", required=True, help="The card's number.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The person file to write (JSON).",
)
@_errors
def person_file(db_url: str, card_no: str, out: Path) -> None:
    """Write the person file of any card, for `sscard card new --profile ningbo-gen3 --person`."""
    from sscard_terminal.center.admin import cards as admin_cards
    from sscard_terminal.center.db import Database

    db = Database(db_url)
    with db.transaction() as session:
        data = admin_cards.person_file(session, card_no)
    _write_person_file(out, data)
    click.echo(f"wrote {out}: sscard card new --profile ningbo-gen3 --person {out} --out IMAGE")


def _set_auth(db_url: str, operation: Callable[[Any], dict[str, Any]]) -> None:
    from sscard_terminal.center.db import Database

    db = Database(db_url)
    with db.transaction() as session:
        view = operation(session)
    click.echo(json.dumps(view, ensure_ascii=False))


@center.command("sm2-key")
@_db_option
@click.option("--code", "fixmedins_code", required=True, help="The institution.")
@click.option("--remove", is_flag=True, help="Remove the key (signtype SM2 is then refused).")
@click.argument("key", required=False)
@_errors
def sm2_key(db_url: str, fixmedins_code: str, remove: bool, key: str | None) -> None:
    """Register an institution's SM2 public key for signtype SM2.

    KEY is a file (PEM PUBLIC KEY, or 04 + X + Y in hex) or the hex itself."""
    from pydantic import ValidationError

    from sscard_terminal.center.admin import institutions as admin_institutions

    if remove == (key is not None):
        raise CenterCliError("give the public key (a file or its hex), or --remove")
    text = None
    if key is not None:
        path = Path(key)
        text = path.read_text(encoding="utf-8") if path.is_file() else key
    try:
        req = admin_institutions.SM2KeyIn(public_key=text)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]["msg"]
        raise CenterCliError(f"{first.removeprefix('Value error, ')}") from None
    _set_auth(db_url, lambda s: admin_institutions.set_sm2_key(s, fixmedins_code, req))


@center.command("sm2-keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key file to write (mode 600; refused if it exists).",
)
@_errors
def sm2_keygen(out: Path) -> None:
    """Make an institution's SM2 key pair: the private key goes to --out (for
    terminal.yaml's sm2_private_key_file), the public key is printed (for
    `sscard center sm2-key`)."""
    from sscard_terminal.settlement.sm2 import SM2Signer, generate_private_key

    if out.exists():
        raise CenterCliError(f"{out} exists: give another --out, or remove it first")
    private = generate_private_key()
    _write_private(out, private + "\n")
    click.echo(SM2Signer(private).public_key_hex)


@center.command("gateway")
@_db_option
@click.option("--code", "fixmedins_code", required=True, help="The institution.")
@click.option(
    "--mode",
    required=True,
    type=click.Choice(["off", "also", "only"]),
    help="off: x-tif headers ignored; also: required besides cainfo; only: required, "
    "cainfo optional.",
)
@click.option("--paasid", default=None, help="The x-tif-paasid expected (default: the code).")
@_errors
def gateway_option(db_url: str, fixmedins_code: str, mode: str, paasid: str | None) -> None:
    """Set an institution's gateway-header (x-tif-*) option."""
    from pydantic import ValidationError

    from sscard_terminal.center.admin import institutions as admin_institutions

    try:
        req = admin_institutions.GatewayIn.model_validate({"mode": mode, "paasid": paasid})
    except ValidationError:
        raise CenterCliError("--paasid is 1-64 characters A-Z a-z 0-9 _ - .") from None
    _set_auth(db_url, lambda s: admin_institutions.set_gateway(s, fixmedins_code, req))


@center.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of standard output.",
)
@_errors
def openapi(out: Path | None) -> None:
    """Print the OpenAPI description of the national endpoint and the admin API."""
    from sscard_terminal.center.api import create_app
    from sscard_terminal.center.db import Database
    from sscard_terminal.center.policy import load_policy

    app = create_app(Database("sqlite://"), load_policy(), admin_token=None)
    text = json.dumps(app.openapi(), ensure_ascii=False, indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")


@center.command()
@click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False),
    help="File holding the institution's secret (HMAC-SM3).",
)
@click.option(
    "--sm2-public-key",
    "sm2_key",
    help="signtype SM2: the institution's public key (a file, PEM or hex, or the hex).",
)
@click.argument("envelope_file", type=click.File("rb"), default="-")
@_errors
def sign(secret_file: str | None, sm2_key: str | None, envelope_file: Any) -> None:
    """Print the canonical string and cainfo of an envelope (to debug a client's
    signing); with --sm2-public-key, the text an SM2 cainfo signs and whether
    the envelope's cainfo verifies."""
    from sscard_terminal.center import signature, sm2sign, wire

    if (secret_file is None) == (sm2_key is None):
        raise CenterCliError("give --secret-file (HMAC-SM3) or --sm2-public-key (SM2)")
    envelope = wire.loads(envelope_file.read())
    if not isinstance(envelope, dict):
        raise CenterCliError("the envelope must be a JSON object")
    if sm2_key is not None:
        path = Path(sm2_key)
        try:
            key = sm2sign.parse_public_key(
                path.read_text(encoding="utf-8") if path.is_file() else sm2_key
            )
            click.echo(sm2sign.signed_text(envelope))
            verified = sm2sign.verify(envelope, key)
        except (sm2sign.SM2KeyError, sm2sign.SM2SignatureError) as exc:
            raise CenterCliError(str(exc)) from None
        click.echo("cainfo verifies" if verified else "cainfo does NOT verify")
        if not verified:
            sys.exit(int(ExitCode.CENTER_REFUSED))
        return
    assert secret_file is not None
    secret = Path(secret_file).read_text(encoding="utf-8").strip()
    click.echo(signature.canonical_string(envelope))
    click.echo(signature.sign(envelope, secret))


@center.command()
@click.option(
    "--url", default="http://127.0.0.1:8080", show_default=True, help="The center's base URL."
)
@click.option(
    "--institutions",
    "institutions_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="institutions.json written by `sscard center seed`.",
)
@click.option("--code", "fixmedins_code", required=True, help="The sending institution.")
@click.option(
    "--opter", default="0001", show_default=True, help="Operator number (opter of the envelope)."
)
@click.option("--insuplc", default="", help="insuplc_admdvs of the envelope.")
@click.argument("infno")
@click.argument("input_json")
@_errors
def call(
    url: str,
    institutions_file: str,
    fixmedins_code: str,
    opter: str,
    insuplc: str,
    infno: str,
    input_json: str,
) -> None:
    """Sign in (9001) and send one transaction; print the answer.

    Exit code 7 when the center refuses (infcode -1), 8 when no answer came.
    """
    import datetime as dt

    import httpx

    from sscard_terminal.center import wire
    from sscard_terminal.settlement import envelope as envelopes
    from sscard_terminal.settlement import wire as client_wire
    from sscard_terminal.settlement.engine import CALL_SERVICE
    from sscard_terminal.settlement.inputs import Context, SignInRequest
    from sscard_terminal.settlement.transactions import SIGN_IN

    known = _institutions(Path(institutions_file))
    inst = next((i for i in known if i["fixmedins_code"] == fixmedins_code), None)
    if inst is None:
        raise CenterCliError(f"{fixmedins_code} is not in {institutions_file}")
    try:
        payload = wire.loads(input_json)
    except wire.WireError as exc:
        raise CenterCliError(
            f"INPUT_JSON is not valid JSON ({exc}); give the transaction's input as one "
            """JSON argument, e.g. '{"data": {...}}'"""
        ) from None
    if not isinstance(payload, dict):
        raise CenterCliError(
            "INPUT_JSON is not a JSON object; give the transaction's input, "
            """e.g. '{"data": {...}}'"""
        )
    try:
        party = envelopes.RequestParty(
            fixmedins_code=fixmedins_code,
            fixmedins_name=inst["fixmedins_name"],
            mdtrtarea_admvs=inst["admdvs"],
            opter_type=envelopes.OpterType.OPERATOR,
            opter=opter,
            opter_name=opter,
        )
    except ValueError as exc:
        raise CenterCliError(f"cannot send as {fixmedins_code}: {exc}") from None
    counter = iter(range(1, 10000))
    clock = functools.partial(dt.datetime.now, envelopes.SHANGHAI)

    def envelope(number: str, body: Any, sign_no: str) -> dict[str, Any]:
        """The terminal's envelope, built and signed as the settlement client does."""
        now = clock()
        try:
            return envelopes.build_request(
                number,
                body,
                party=party,
                msgid=envelopes.make_msgid(
                    fixmedins_code, now, (os.getpid() * 10 + next(counter)) % 10000
                ),
                inf_time=now,
                secret=inst["secret"],
                sign_no=sign_no,
                insuplc_admdvs=insuplc,
            )
        except ValueError as exc:
            raise CenterCliError(f"cannot build the {number} envelope: {exc}") from None

    def post(env: dict[str, Any]) -> dict[str, Any]:
        try:
            response = httpx.post(
                url.rstrip("/") + CALL_SERVICE, content=client_wire.dumps(env), timeout=30
            )
        except httpx.ConnectError as exc:
            raise CenterCliError(
                f"cannot reach {url} ({exc}); nothing was sent: start the center or check --url",
                ExitCode.OUTCOME_UNKNOWN,
            ) from None
        except httpx.HTTPError:
            raise CenterCliError(
                f"no answer to {env['msgid']}: query it with 5203 or reverse it with 2601",
                ExitCode.OUTCOME_UNKNOWN,
            ) from None
        answer = wire.loads(response.content)
        if not isinstance(answer, dict):
            raise CenterCliError(f"HTTP {response.status_code}: not an envelope")
        return answer

    sign_in = SignInRequest().payload(Context(opter, "", "", inst["admdvs"], clock))
    signed = post(envelope(SIGN_IN.infno, sign_in, ""))
    if str(signed.get("infcode")) != "0":
        raise CenterCliError(f"sign-in refused: {signed.get('err_msg')}", ExitCode.CENTER_REFUSED)
    answer = post(envelope(infno, payload, signed["output"]["signinoutb"]["sign_no"]))
    click.echo(wire.dumps(answer).decode("utf-8"))
    if str(answer.get("infcode")) != "0":
        raise CenterCliError(f"refused: {answer.get('err_msg')}", ExitCode.CENTER_REFUSED)


_INSTITUTION_KEYS = ("fixmedins_code", "fixmedins_name", "admdvs", "secret")


def _institutions(path: Path) -> list[dict[str, str]]:
    """institutions.json as `sscard center seed` writes it: a JSON list of
    institutions, each with its code, name, division and secret."""
    what = (
        "a JSON list of institutions with "
        + ", ".join(_INSTITUTION_KEYS)
        + " (the institutions.json `sscard center seed` writes)"
    )
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CenterCliError(f"{path} is not JSON ({exc}); --institutions takes {what}") from None
    if not isinstance(known, list) or not all(
        isinstance(i, dict) and all(isinstance(i.get(k), str) for k in _INSTITUTION_KEYS)
        for i in known
    ):
        raise CenterCliError(f"{path} is not an institutions file; --institutions takes {what}")
    return known
