"""Command-line interface: `flask --app gateway <command>`.

Commands print what they did in plain words; secrets are printed only where the operator must
copy them (a new API token, on the last line of the output, once).
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from gateway import migrate
from gateway.configdata import ConfigError, directory_from_files, load_into_database
from gateway.models import ApiToken
from gateway.state import GatewayState, current_gateway
from gateway.tokens import create_token, revoke


def register_commands(app: Flask) -> None:
    app.cli.add_command(release_command)
    app.cli.add_command(db_group)
    app.cli.add_command(config_group)
    app.cli.add_command(flows_group)
    app.cli.add_command(token_group)
    app.cli.add_command(worker_command)
    app.cli.add_command(sweep_command)
    app.cli.add_command(urls_command)
    app.cli.add_command(phone_command)
    app.cli.add_command(scores_group)
    app.cli.add_command(quarter_group)
    app.cli.add_command(synth_command)
    app.cli.add_command(deliveries_group)
    app.cli.add_command(sms_group)
    app.cli.add_command(feedback_group)
    app.cli.add_command(vault_group)
    app.cli.add_command(user_group)
    app.cli.add_command(demo_group)


def _load_config(gw: GatewayState, config_dir: Path) -> dict[str, int]:
    try:
        with gw.db.transaction() as session:
            return load_into_database(session, config_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"config: {problem}", err=True)
        raise SystemExit(1) from exc


@click.command("release")
@with_appcontext
def release_command() -> None:
    """Prepare the database: migrate (from empty or older), then load config/ idempotently."""
    gw = current_gateway()
    if gw.settings.is_sqlite:
        Path(gw.settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    before = migrate.current_revision(gw.db)
    migrate.upgrade(gw.db)
    click.echo(f"database migrated from {before or 'empty'} to {migrate.current_revision(gw.db)}")
    counts = _load_config(gw, gw.settings.config_dir)
    click.echo("config loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    _recompute_missing(gw)


def _recompute_missing(gw: GatewayState) -> None:
    """Quarters with answers but no cells (a fresh upgrade): compute them once."""
    from datetime import UTC, datetime

    from gateway.models import Answer, Cell
    from scoring.aggregate import recompute_period

    with gw.db.session() as session:
        with_answers = set(session.scalars(select(Answer.period).distinct()))
        with_cells = set(session.scalars(select(Cell.period).distinct()))
    for period in sorted(with_answers - with_cells):
        with gw.db.transaction() as session:
            written = recompute_period(session, period, datetime.now(UTC))
        click.echo(f"{period}: {written} cells computed")


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration up to the latest."""
    gw = current_gateway()
    migrate.upgrade(gw.db)
    click.echo(f"database at revision {migrate.current_revision(gw.db)}")


@db_group.command("current")
def db_current() -> None:
    """Show the schema revision of the database and the latest one."""
    gw = current_gateway()
    click.echo(f"database {migrate.current_revision(gw.db)}, latest {migrate.head_revision()}")


@click.group("config", cls=AppGroup)
def config_group() -> None:
    """Data in config/."""


@config_group.command("load")
def config_load() -> None:
    """Load the gazetteer and institution units into the database (idempotent)."""
    counts = _load_config(current_gateway(), current_gateway().settings.config_dir)
    click.echo("config loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@click.group("flows")
def flows_group() -> None:
    """The USSD flow (works without a database, and on a flow the gateway would refuse)."""


@flows_group.command("check")
def flows_check() -> None:
    """Validate the flow: targets, keys, messages, and every screen of every language; and the
    SMS keywords and replies."""
    from flows.check import problems, screens
    from flows.engine import Context
    from flows.gsm import GSM7, encoding_of
    from flows.model import FlowError
    from gateway.app import GATEWAY_MESSAGES
    from gateway.configdata import load_catalog, load_flow
    from gateway.settings import Settings
    from gateway.smsconfig import load_sms

    settings = Settings.from_env()
    sms = None
    found: list[str] = []
    try:
        flow = load_flow(settings.config_dir)
        catalog = load_catalog(settings.config_dir)
        directory = directory_from_files(settings.config_dir)
        found = problems(flow, catalog, directory, settings.ussd_screen_limit, GATEWAY_MESSAGES)
        sms = load_sms(settings.config_dir, flow)
    except (FlowError, ConfigError) as exc:
        found = [*found, *exc.problems]
    for problem in found:
        click.echo(problem, err=True)
    if found:
        click.echo(f"{len(found)} problems: the gateway will not start with this flow", err=True)
        raise SystemExit(1)
    ctx = Context(catalog, directory, catalog.default_language, settings.ussd_screen_limit)
    by_language: dict[str, list[int]] = {}
    for where, screen in screens(flow, ctx):
        by_language.setdefault(where.split(" ", 1)[0], []).append(len(screen.body))
    for language, lengths in sorted(by_language.items()):
        click.echo(f"{language}: {len(lengths)} screens, longest {max(lengths)} of "
                   f"{settings.ussd_screen_limit} characters")
    if sms is not None:
        for language, table in sorted(sms.replies.items()):
            codings = [encoding_of(text) for text in table.values()]
            ucs2 = sorted(rid for rid, c in zip(table, codings, strict=True) if c.name != GSM7)
            longest = max(c.units for c in codings)
            click.echo(f"{language}: {len(table)} SMS replies, longest {longest} characters, "
                       f"{'all GSM-7' if not ucs2 else 'UCS-2: ' + ', '.join(ucs2)}")
    click.echo(f"flow {flow.version}: ok")


@click.group("api-token", cls=AppGroup)
def token_group() -> None:
    """Tokens for the RBF API."""


@token_group.command("create")
@click.argument("name")
@click.option("--provisional", is_flag=True, help="May also read quarters not yet locked.")
@click.option("--province", metavar="CODE", help="Restrict the token to one province.")
def token_create(name: str, provisional: bool, province: str | None) -> None:
    """Create a token; it is printed once, on the last line, and stored only as a hash."""
    with current_gateway().db.transaction() as session:
        row, token = create_token(session, name, provisional=provisional, province=province)
        token_id = row.id
    click.echo(f"token {token_id} created for {name!r}; copy it now, it is not stored:")
    click.echo(token)


@token_group.command("list")
def token_list() -> None:
    """List tokens (never their values)."""
    with current_gateway().db.session() as session:
        for row in session.scalars(select(ApiToken).order_by(ApiToken.id)):
            state = "revoked" if row.revoked_at else "active"
            click.echo(
                f"{row.id}\t{row.name}\t{state}\tprovisional={row.provisional}\t"
                f"province={row.province_code or '-'}\tlast used {row.last_used_at or 'never'}"
            )


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id."""
    with current_gateway().db.transaction() as session:
        done = revoke(session, token_id)
    if not done:
        click.echo(f"no active token {token_id}", err=True)
        raise SystemExit(1)
    click.echo(f"token {token_id} revoked")


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on the scores queue (with its scheduler and the dirty-cell sweeper)."""
    from gateway.worker import run_worker

    run_worker(current_gateway().settings, burst=burst)


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Enqueue a refresh for every dirty cell now (what the worker does periodically)."""
    from scoring.jobs import sweep_dirty_cells

    gw = current_gateway()
    sent = sweep_dirty_cells(database=gw.db, queue=gw.queue)
    gw.queue.drain()
    click.echo(f"{sent} dirty cells enqueued")


@click.command("urls")
@with_appcontext
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def urls_command(port: int, host: str) -> None:
    """Print where to point Africa's Talking (or a simulator) and a curl line for the first hop."""
    gw = current_gateway()
    base = f"http://{host}:{port}"
    token = gw.settings.webhook_token
    mode = "Redis + RQ worker" if gw.settings.redis_url else "jobs in-process (no REDIS_URL)"
    click.echo(f"gateway ({gw.settings.env}, {mode})")
    click.echo(f"  USSD callback URL : {base}/at/{token}/ussd")
    click.echo(f"  staff pages       : {base}/staff/   (an account: flask --app gateway user "
               "create you@example.org --role admin)")
    click.echo(f"  health            : {base}/healthz   {base}/readyz")
    click.echo(f"  RBF API           : {base}/api/v1/scores?period=YYYYQn  (Bearer token)")
    click.echo(
        "  first hop         : curl -s -d sessionId=demo-1 -d serviceCode='*123#' "
        f"-d phoneNumber=+243970000001 -d text= {base}/at/{token}/ussd"
    )
    click.echo("  next hops         : repeat with text=1 (Francais), text=1*1 (consent), "
               "text=1*1*1 ...")
    click.echo(f"  phone simulator   : flask --app gateway phone --url {base}/at/{token}/ussd")
    click.echo(f"  end-of-session    : {base}/at/{token}/ussd/events")
    click.echo(f"  SMS callback URL  : {base}/at/{token}/sms")
    click.echo(f"  SMS delivery      : {base}/at/{token}/sms/delivery")
    click.echo(
        "  an SMS            : curl -s -d id=demo-sms-1 --data-urlencode from=+243970000001 "
        f"-d to=2026 --data-urlencode 'text=POLICE GOMA 3 2' {base}/at/{token}/sms")
    at = gw.settings
    if at.at_username and at.at_api_key:
        click.echo(f"  outbound SMS      : Africa's Talking as {at.at_username}"
                   f"{' via ' + at.at_api_url if at.at_api_url else ''}")
    else:
        click.echo("  outbound SMS      : queued, not sent (set AT_USERNAME and AT_API_KEY); "
                   "see `flask --app gateway sms outbox`")
    sys.stdout.flush()


@click.command("phone")
@click.option("--number", default="+243970000001", show_default=True,
              help="The caller's number (hashed by the gateway, never stored).")
@click.option("--url", default=None, help="USSD webhook URL [default: this gateway on :5000].")
@click.option("--network", default="63001", show_default=True, help="networkCode (MCC+MNC).")
@with_appcontext
def phone_command(number: str, url: str | None, network: str) -> None:
    """A terminal phone: play USSD sessions against a running gateway as Africa's Talking does."""
    from gateway.phone import PhoneError, play
    from gateway.phones import InvalidPhone, normalise

    gw = current_gateway()
    try:
        normalise(number)
    except InvalidPhone as exc:
        raise click.BadParameter("not a phone number", param_hint="--number") from exc
    target = url or f"http://127.0.0.1:5000/at/{gw.settings.webhook_token}/ussd"

    def read(prompt: str) -> str | None:
        try:
            return str(click.prompt(prompt, default="", show_default=False, prompt_suffix=""))
        except (click.exceptions.Abort, EOFError):
            return None

    try:
        hops = play(target, number, network, read, click.echo)
    except PhoneError as exc:
        click.echo(f"phone: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"{hops} hops played")


def _period_argument(value: str) -> str:
    from scoring.periods import is_period

    if not is_period(value):
        raise click.BadParameter("a quarter written YYYYQn, e.g. 2026Q4")
    return value


@click.group("scores", cls=AppGroup)
def scores_group() -> None:
    """Score cells."""


@scores_group.command("recompute")
@click.option("--period", required=True, callback=lambda _c, _p, v: _period_argument(v),
              help="The quarter, YYYYQn.")
def scores_recompute(period: str) -> None:
    """Recompute every cell of a quarter from its answers (the repair path; same result as the
    incremental refresh). Locked snapshots are never touched."""
    from datetime import UTC, datetime

    from scoring.aggregate import recompute_period

    gw = current_gateway()
    # Process start is not the recompute: connect (and import the driver) first, and collect the
    # start-up garbage now rather than in a full collection of every imported object mid-way
    # (about 80 ms, landing wherever the allocation count happens to cross the threshold).
    with gw.db.session() as session:
        session.execute(select(1))
    gc.collect()
    # No progress bar: the unit cells only arrive once the database has finished its one pass
    # over the answers, and sizing a bar took a second full pass (as long as the recompute).
    units = 0

    def count(n: int) -> None:
        nonlocal units
        units += n

    started = time.perf_counter()
    with gw.db.transaction() as session:
        written = recompute_period(session, period, datetime.now(UTC), progress=count)
    peak = _peak_mb()
    click.echo(f"{period}: {written} cells written from {units} unit cells "
               f"in {time.perf_counter() - started:.3f} s (process peak {peak} MB)")
    _scan(gw, period)


def _peak_mb() -> int:
    """This process's own peak resident memory, in MB.

    On Linux, VmHWM of its own address space: `ru_maxrss` also keeps the peak of the image it was
    forked from (the kernel carries it across exec), so a command started by a big parent (a
    benchmark that has just generated millions of answers) would report the parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # kB on Linux and BSDs


def _scan(gw: GatewayState, period: str) -> None:
    from datetime import UTC, datetime

    from gateway.method import load_integrity_rules
    from scoring.integrity import scan

    rules = load_integrity_rules(gw.settings.config_dir, gw.settings.max_sessions_per_day)
    with gw.db.transaction() as session:
        flags = scan(session, period, rules, datetime.now(UTC))
    click.echo(f"{period}: {len(flags)} integrity flags for review")
    for flag in flags:
        click.echo(f"  {flag.kind}\t{flag.subject}\t{flag.window_start:%Y-%m-%d %H:%M}"
                   f"\t{flag.detail}")


@scores_group.command("flags")
@click.option("--period", required=True, callback=lambda _c, _p, v: _period_argument(v),
              help="The quarter, YYYYQn.")
def scores_flags(period: str) -> None:
    """Scan a quarter for bursts, first-time-dominated cells and callers at the daily limit."""
    _scan(current_gateway(), period)


@click.group("quarter", cls=AppGroup)
def quarter_group() -> None:
    """The quarter lifecycle: open -> in_review -> locked."""


@quarter_group.command("list")
def quarter_list() -> None:
    """Every quarter with its status, lock time and snapshot version."""
    from gateway.models import Period

    with current_gateway().db.session() as session:
        for row in session.scalars(select(Period).order_by(Period.code)):
            click.echo(f"{row.code}\t{row.status}\tlocked {row.locked_at or '-'}\t"
                       f"snapshot {row.snapshot_version or '-'}")


@quarter_group.command("review")
@click.argument("period", callback=lambda _c, _p, v: _period_argument(v))
def quarter_review(period: str) -> None:
    """Move a quarter to review (it happens by itself when the quarter ends)."""
    from datetime import UTC, datetime

    from gateway.quarters import LifecycleError, move_to_review

    try:
        with current_gateway().db.transaction() as session:
            row = move_to_review(session, period, datetime.now(UTC))
            status = row.status
    except LifecycleError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    click.echo(f"{period}: {status}")
    _scan(current_gateway(), period)


@quarter_group.command("lock")
@click.argument("period", callback=lambda _c, _p, v: _period_argument(v))
@click.option("--broadcast", is_flag=True,
              help="Then text the result to every citizen who asked for it (see `sms broadcast`).")
def quarter_lock(period: str, broadcast: bool) -> None:
    """Lock a quarter in review: recompute it and freeze its published scores in a snapshot."""
    from datetime import UTC, datetime

    from gateway.models import Delivery
    from gateway.push import DELIVER
    from gateway.quarters import LifecycleError, lock

    gw = current_gateway()
    try:
        with gw.db.transaction() as session:
            snapshot = lock(session, period, gw.method, datetime.now(UTC),
                            gw.settings.rbf_webhook_urls)
            version, digest = snapshot.version, snapshot.sha256
            pushes = list(session.scalars(select(Delivery.id).where(
                Delivery.period == period, Delivery.version == version)))
    except LifecycleError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    for pk in pushes:
        gw.queue.enqueue(DELIVER, pk, job_id=f"delivery-{pk}")
    gw.queue.drain()
    click.echo(f"{period}: locked, snapshot version {version}, sha256 {digest}")
    if pushes:
        click.echo(f"{len(pushes)} pushes to the RBF engine queued (see `deliveries list`)")
    if broadcast:
        _broadcast(gw, period)


def _broadcast(gw: GatewayState, period: str) -> None:
    from datetime import UTC, datetime

    from gateway import outbox
    from gateway.broadcast import broadcast_results
    from gateway.quarters import LifecycleError

    try:
        with gw.db.transaction() as session:
            queued = broadcast_results(session, period, gw.sms, datetime.now(UTC))
    except LifecycleError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from exc
    outbox.enqueue(gw.queue, queued)
    gw.queue.drain()
    click.echo(f"{period}: result messages queued for {len(queued)} citizens "
               "(already queued ones are not queued twice; see `sms outbox`)")


@click.group("sms", cls=AppGroup)
def sms_group() -> None:
    """Outbound SMS (numbers are never shown)."""


@sms_group.command("broadcast")
@click.argument("period", callback=lambda _c, _p, v: _period_argument(v))
def sms_broadcast(period: str) -> None:
    """Text a locked quarter's result to the citizens who asked for it (once each)."""
    _broadcast(current_gateway(), period)


@sms_group.command("outbox")
def sms_outbox() -> None:
    """Outbound messages by kind and status, with their parts and cost."""
    from sqlalchemy import func

    from gateway.models import OutboundSms

    gw = current_gateway()
    with gw.db.session() as session:
        rows = session.execute(
            select(OutboundSms.kind, OutboundSms.status, func.count(),
                   func.sum(OutboundSms.segments))
            .group_by(OutboundSms.kind, OutboundSms.status)
            .order_by(OutboundSms.kind, OutboundSms.status)).all()
    if not rows:
        click.echo("no outbound SMS")
    for kind, status, count, segments in rows:
        click.echo(f"{kind:15} {status:11} {count:6} messages {int(segments or 0):6} parts")


@sms_group.command("send-due")
def sms_send_due() -> None:
    """Enqueue every queued message that is due (what the sweeper does every SWEEP_INTERVAL)."""
    from datetime import UTC, datetime

    from gateway import outbox

    gw = current_gateway()
    count = outbox.enqueue_due(gw.db, gw.queue, datetime.now(UTC), gw.settings)
    gw.queue.drain()
    click.echo(f"{count} messages enqueued")


@click.group("feedback", cls=AppGroup)
def feedback_group() -> None:
    """SMS feedback and complaints (the sender's number is never shown)."""


@feedback_group.command("list")
@click.option("--status", type=click.Choice(["new", "answered", "closed", "all"]), default="new",
              show_default=True)
def feedback_list(status: str) -> None:
    """Feedback, newest first: id, date, category, language, locality, text."""
    from gateway.models import Feedback, Location

    gw = current_gateway()
    with gw.db.session() as session:
        query = (select(Feedback, Location.ussd_name)
                 .outerjoin(Location, Location.id == Feedback.location_id)
                 .order_by(Feedback.id.desc()).limit(200))
        if status != "all":
            query = query.where(Feedback.status == status)
        rows = session.execute(query).all()
    if not rows:
        click.echo("no feedback")
    for item, place in rows:
        when = item.created_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"#{item.id} {when} {item.category} {item.language} {place or '-'} "
                   f"{item.institution_type or '-'} [{item.status}]: {item.text}")


@feedback_group.command("reply")
@click.argument("feedback_id", type=int)
@click.argument("text")
def feedback_reply(feedback_id: int, text: str) -> None:
    """Answer a feedback by SMS; the number stays in the vault."""
    from datetime import UTC, datetime

    from gateway import outbox
    from gateway.feedback import CannotReply, answer_feedback

    gw = current_gateway()
    try:
        with gw.db.transaction() as session:
            new_id = answer_feedback(session, feedback_id, text, sms=gw.sms, vault=gw.vault,
                                     now=datetime.now(UTC))
    except CannotReply as exc:
        click.echo(f"not sent: {exc}", err=True)
        raise SystemExit(1) from exc
    if new_id is None:
        click.echo("this answer was already queued")
        return
    outbox.enqueue(gw.queue, [new_id])
    gw.queue.drain()
    click.echo(f"answer to #{feedback_id} queued")


@click.group("vault", cls=AppGroup)
def vault_group() -> None:
    """The encrypted phone vault (DESIGN §5)."""


@vault_group.command("new-key")
def vault_new_key() -> None:
    """Print a new Fernet key for VAULT_KEY (put it first; keep the old one after it until
    `vault rotate` has run)."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@vault_group.command("rotate")
def vault_rotate() -> None:
    """Re-encrypt every kept number under the first key of VAULT_KEY."""
    from datetime import UTC, datetime

    gw = current_gateway()
    with gw.db.transaction() as session:
        count, unreadable = gw.vault.rotate(session, datetime.now(UTC))
    click.echo(f"{count} numbers re-encrypted under the newest key")
    if unreadable:
        click.echo(f"{unreadable} numbers no key of VAULT_KEY opens were left as they are "
                   "(a key was dropped too early?)", err=True)


@vault_group.command("forget")
@click.option("--number", prompt=True, hide_input=True,
              help="The citizen's number, any usual form (asked for, not echoed, if left out).")
def vault_forget(number: str) -> None:
    """Delete one citizen's number from the vault, on their request (they will get no more SMS
    from the gateway; their pseudonymous answers stay)."""
    from gateway.models import Respondent
    from gateway.phones import InvalidPhone, normalise, pseudonym

    gw = current_gateway()
    try:
        digest = pseudonym(normalise(number), gw.settings.phone_hash_key)
    except InvalidPhone as exc:
        raise click.BadParameter("not a phone number", param_hint="--number") from exc
    with gw.db.transaction() as session:
        respondent_id = session.scalar(select(Respondent.id).where(
            Respondent.phone_hash == digest))
        forgotten = respondent_id is not None and gw.vault.forget(session, respondent_id)
    click.echo("number deleted from the vault" if forgotten else "no number kept for it")


@vault_group.command("purge")
def vault_purge() -> None:
    """Delete every number past its retention (the sweeper also does, every SWEEP_INTERVAL)."""
    from datetime import UTC, datetime

    from gateway.vault import purge_expired

    gw = current_gateway()
    with gw.db.transaction() as session:
        count = purge_expired(session, datetime.now(UTC))
    click.echo(f"{count} numbers purged")


@click.command("synth")
@with_appcontext
@click.option("--period", required=True, callback=lambda _c, _p, v: _period_argument(v))
@click.option("--answers", type=click.IntRange(1, 50_000_000), default=10_000, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True)
def synth_command(period: str, answers: int, seed: int) -> None:
    """Write reproducible synthetic answers (tests, benchmarks, demos; refused in production)."""
    from gateway.synth import generate

    gw = current_gateway()
    if gw.settings.is_production:
        click.echo("synthetic data is never written to a production database", err=True)
        raise SystemExit(1)
    with click.progressbar(length=answers, label=f"{period}: answers", file=sys.stderr) as bar:
        written = generate(gw.db, period, answers, seed, progress=bar.update)
    click.echo(f"{period}: {written} synthetic answers written (seed {seed}); "
               f"run `scores recompute --period {period}`")


@click.group("deliveries", cls=AppGroup)
def deliveries_group() -> None:
    """Signed pushes of locked quarters to the RBF engine."""


@deliveries_group.command("list")
@click.option("--period", default=None, help="Only this quarter.")
def deliveries_list(period: str | None) -> None:
    """Every push with its status and attempts (latest outcome last)."""
    from gateway.models import Delivery, DeliveryAttempt
    from gateway.push import redact_url

    with current_gateway().db.session() as session:
        stmt = select(Delivery).order_by(Delivery.id)
        if period:
            stmt = stmt.where(Delivery.period == period)
        for row in session.scalars(stmt):
            last = session.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id == row.id).order_by(
                DeliveryAttempt.id.desc()).limit(1)).first()
            outcome = "-" if last is None else (
                f"{last.status_code or last.error} at {last.attempted_at:%Y-%m-%d %H:%M}")
            click.echo(f"{row.id}\t{row.period} v{row.version}\t{row.status}\t"
                       f"{row.attempts} attempts\tlast {outcome}\t{redact_url(row.url)}\t"
                       f"{row.delivery_id}")


@deliveries_group.command("replay")
@click.argument("delivery", type=int)
def deliveries_replay(delivery: int) -> None:
    """Attempt a push again now (a failed or delivered one too), and record the outcome."""
    from datetime import UTC, datetime

    from gateway.models import Delivery
    from gateway.push import attempt

    gw = current_gateway()
    with gw.db.transaction() as session:
        row = session.get(Delivery, delivery)
        if row is None:
            click.echo(f"no delivery {delivery}", err=True)
            raise SystemExit(1)
        row.status, row.attempts, row.next_attempt_at = "pending", 0, datetime.now(UTC)
    result = attempt(gw.db, delivery, gw.settings.rbf_webhook_secret)
    click.echo(f"delivery {delivery}: {result.status} after this attempt")
    if result.status != "delivered":
        raise SystemExit(1)


@click.group("user", cls=AppGroup)
def user_group() -> None:
    """Staff accounts of the dashboard."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "reviewer", "analyst"]), required=True)
@click.option("--province", default=None, help="Limit the account to one province (code).")
def user_create(email: str, role: str, province: str | None) -> None:
    """Create a staff account (argon2id hash; the password is never printed). The password is
    asked twice at a terminal, or read from the first line of stdin when piped."""
    from datetime import UTC, datetime

    from gateway.accounts import AccountError, audit, create_user
    from gateway.models import Location

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:  # getpass would read the terminal, not the pipe
        password = sys.stdin.readline().rstrip("\r\n")
    gw = current_gateway()
    now = datetime.now(UTC)
    try:
        with gw.db.transaction() as session:
            if province is not None and session.scalar(select(Location.id).where(
                    Location.code == province, Location.level == "province")) is None:
                raise AccountError(f"no province with code {province}")
            user = create_user(session, email, password, role=role, province_code=province,
                               now=now)
            audit(session, None, "user.create", user.email, now, role=role, province=province,
                  by="cli")
    except AccountError as exc:
        click.echo(f"not created: {exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"{user.email}: {role}{' for ' + province if province else ''}, created")


@user_group.command("list")
def user_list() -> None:
    """Staff accounts (never a password)."""
    from gateway.models import StaffUser

    gw = current_gateway()
    with gw.db.session() as session:
        users = session.scalars(select(StaffUser).order_by(StaffUser.email)).all()
        for user in users:
            state = "disabled" if user.disabled_at else "active"
            click.echo(f"{user.email:40} {user.role:9} {user.province_code or '-':8} {state}")


@user_group.command("disable")
@click.argument("email")
def user_disable(email: str) -> None:
    """Disable an account and end its sessions."""
    from datetime import UTC, datetime

    from gateway.accounts import audit, end_sessions
    from gateway.models import StaffUser

    gw = current_gateway()
    now = datetime.now(UTC)
    with gw.db.transaction() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        if user is None:
            click.echo(f"no account {email}", err=True)
            raise SystemExit(1)
        user.disabled_at = now
        ended = end_sessions(session, user.id, now)
        audit(session, None, "user.disable", user.email, now, by="cli", sessions_ended=ended)
    click.echo(f"{email}: disabled, {ended} sessions ended")


@click.group("demo", cls=AppGroup)
def demo_group() -> None:
    """The demo dataset of the embedded database (never in production)."""


@demo_group.command("load")
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option("--answers", type=click.IntRange(100, 1_000_000), default=12_000,
              show_default=True, help="Synthetic answers per past quarter.")
def demo_load(seed: int, answers: int) -> None:
    """Load the labelled demo dataset on a first start of the embedded database; print the demo
    logins. Anywhere else it loads nothing and says why (exit 0: `make run` goes on)."""
    from flask import current_app

    from gateway.demo import DemoRefused, is_demo, load, login_lines

    gw = current_gateway()
    with gw.db.session() as session:
        already = is_demo(session)
    if already:
        lines = ["  demo dataset      : loaded earlier (DEMO banner on every staff page)",
                 *login_lines(gw.settings.database_url)]
    else:
        try:
            lines = load(gw, current_app, seed, answers)
        except DemoRefused as exc:
            lines = [f"  demo dataset      : not loaded ({exc})"]
    for line in lines:
        click.echo(line)
