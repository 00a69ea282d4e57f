"""The kiosk's patient session: screens, the flows behind them, the card
watcher and the idle timer (docs/kiosk.md, "Screens").

One patient at a time. The screens:

welcome (insert the card or scan the voucher) -> identity, masked, with the
PIN on the PIN pad (:mod:`.pinpad`; none for the voucher) -> menu:

- registration: department -> doctor (fee, hours, places from the hospital's
  schedule) -> the split of 2206 (fund / account / cash) -> the simulated
  payment -> receipt with the queue number (``flows.kiosk_register``);
- outpatient fees registered at the desk (``flows.pay_outstanding``: 2203 to
  2207 on the desk's visit, as the hospital information system lists them);
- balance (1101) and the card's last transaction records (DF04 EF08);
- temporary loss report (the center's card service);

-> "take your card". Anything that stops a flow becomes one sentence with what
to do next (:func:`.texts.refusal`). Pulling the card cancels what waits for
the patient (PIN, confirmation) so that the flow rolls back, and clears the
page. After ``idle_seconds`` without a touch the kiosk does the same and
returns to welcome: every personal detail is dropped from the session, so
the page (which only renders the session's view) holds none.

The flows run in a worker thread (they block on the card, the center and
the patient); the reader watcher (SCardGetStatusChange through the
transport's watcher) and the idle timer have a thread each. The page polls
:meth:`KioskSession.view`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sscard_terminal.codecs.masking import mask_id_number, mask_name
from sscard_terminal.driver.cardholder import CardholderRecord
from sscard_terminal.driver.sscard import SocialSecurityCard
from sscard_terminal.errors import CardRemovedError, SscardError, UsageError, WrongPinError
from sscard_terminal.kiosk.orders import OrdersBook
from sscard_terminal.kiosk.pinpad import PinCancelled, PinPadDevice
from sscard_terminal.kiosk.texts import refusal, t
from sscard_terminal.settlement.models import SetlInfo
from sscard_terminal.terminal import flows
from sscard_terminal.terminal.payment import PaymentProvider
from sscard_terminal.terminal.receipt import Receipt
from sscard_terminal.terminal.schedule import Schedule
from sscard_terminal.terminal.station import Station
from sscard_terminal.transport.base import watch_readers

__all__ = ["KioskSession", "LossService"]

log = logging.getLogger("sscard_terminal.kiosk")

LossService = Callable[[str], None]
#: how long the voucher's goodbye stays before welcome
GOODBYE_SECONDS = 4.0


@dataclass
class _Patient:
    """Everything personal of one session: dropped as a whole."""

    mode: str  # "card" or "voucher"
    identity: list[tuple[str, str]] = field(default_factory=list)
    holder: flows.Holder | None = None
    card: SocialSecurityCard | None = None
    voucher: flows.Voucher | None = None
    #: the account balance after this session's last settlement
    balance: Decimal | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    @property
    def presented(self) -> flows.Presented:
        presented = self.card if self.card is not None else self.voucher
        if presented is None:
            raise UsageError("no card and no voucher")
        return presented


class KioskSession:
    """The state of the kiosk's one screen."""

    def __init__(
        self,
        station: Station,
        schedule: Schedule,
        payments: PaymentProvider,
        *,
        queue: flows.QueueBook | None = None,
        orders: OrdersBook | None = None,
        loss: LossService | None = None,
        idle_seconds: float = 60.0,
        reader: str | None = None,
        hospital: str | None = None,
    ) -> None:
        self.station = station
        self.schedule = schedule
        self.payments = payments
        self.queue = queue or flows.QueueBook()
        self.orders = orders
        self.loss = loss
        self.idle_seconds = idle_seconds
        self.reader = reader
        self.hospital = hospital or schedule.hospital
        self._lock = threading.RLock()
        self._changes = threading.Condition(self._lock)
        self.pinpad = PinPadDevice(on_change=self._changed)
        self._stop = threading.Event()
        self._version = 0
        self._lang = "zh"
        self._screen = "welcome"
        self._data: dict[str, Any] = {}
        self._message: tuple[str, str] | None = None
        self._busy: str | None = None
        self._patient: _Patient | None = None
        self._job: threading.Thread | None = None
        self._decision: threading.Event = threading.Event()
        self._decided = False
        self._abort = False
        self._pulled = False
        self._touched = time.monotonic()
        self._goodbye_at: float | None = None
        self._threads: list[threading.Thread] = []
        self._watcher: Any = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, *, watch: bool = True) -> None:
        targets: list[tuple[str, Callable[[], None]]] = [("sscard-kiosk-idle", self._idle_loop)]
        if watch:
            targets.append(("sscard-kiosk-reader", self._watch_loop))
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._changed()  # the pages' long polls answer
        self._cancel_waits()
        watcher = self._watcher
        if watcher is not None:
            watcher.cancel()
        for thread in self._threads:
            thread.join(timeout=3)
        job = self._job
        if job is not None:
            job.join(timeout=10)
        self._drop_patient()
        self.queue.close()

    # -- what the page sees ----------------------------------------------------------------
    def _changed(self) -> None:
        """The view changed: a new version, and wake the pages waiting for it."""
        with self._lock:
            self._version += 1
            self._changes.notify_all()

    def wait_change(self, after: int, timeout: float) -> None:
        """Block until the view's version is past ``after`` (or ``timeout`` s)."""
        with self._lock:
            self._changes.wait_for(
                lambda: self._version > after or self._stop.is_set(), timeout=timeout
            )

    def view(self) -> dict[str, Any]:
        """The screen as the page renders it, in the session's language."""
        with self._lock:
            lang = self._lang
            view: dict[str, Any] = {
                "version": self._version,
                "screen": self._screen,
                "lang": lang,
                "brand": self.hospital if lang == "zh" else t("brand", lang),
                "toggle": t("lang", lang),
                "title": "",
                "lines": [],
                "buttons": [],
                "message": None,
                "busy": t(self._busy, lang) if self._busy else None,
                "pinpad": self._pinpad_view(lang),
                "idle": t("idle", lang, n=int(self.idle_seconds)),
            }
            self._fill(view, lang)
            return view

    def _pinpad_view(self, lang: str) -> dict[str, Any]:
        active = self.pinpad.active
        return {
            "active": active,
            "label": t("pinpad.label", lang),
            "note": t("pinpad.note", lang),
            "display": t("pin.entered", lang, n=self.pinpad.count) if active else "",
            "count": self.pinpad.count if active else 0,
            "keys": [{"label": k, "token": v} for k, v in self.pinpad.key_labels()]
            if active
            else [],
            "ok": t("pinpad.ok", lang),
            "clear": t("pinpad.clear", lang),
            "cancel": t("pinpad.cancel", lang),
        }

    def _fill(self, view: dict[str, Any], lang: str) -> None:
        screen, data, patient = self._screen, self._data, self._patient

        def button(action: str, key: str, arg: str = "", kind: str = "") -> dict[str, str]:
            return {"action": action, "arg": arg, "label": t(key, lang), "kind": kind}

        if self._message is not None:
            zh, en = self._message
            view["message"] = en if lang == "en" else zh
        if screen == "welcome":
            view["title"] = t("welcome.title", lang)
            view["lines"] = [["", t("welcome.card", lang)], ["", t("welcome.voucher", lang)]]
        elif screen == "busy":
            view["title"] = view["busy"] or t("busy.working", lang)
        elif screen == "pin" and patient is not None:
            view["title"] = t("identity.title", lang)
            view["lines"] = [[t(k, lang), v] for k, v in patient.identity]
            view["prompt"] = t("pin.prompt", lang)
        elif screen == "menu" and patient is not None:
            view["title"] = t("menu.title", lang)
            view["lines"] = [[t(k, lang), v] for k, v in patient.identity]
            view["buttons"] = [
                button("register", "menu.register", kind="big"),
                button("outstanding", "menu.outstanding", kind="big"),
                button("balance", "menu.balance", kind="big"),
                button("loss", "menu.loss", kind="big"),
                button("finish", "menu.finish"),
            ]
        elif screen == "departments":
            view["title"] = t("dept.title", lang)
            view["buttons"] = [
                {"action": "dept", "arg": d.code, "label": d.name, "kind": "big"}
                for d in self.schedule.departments
            ] + [button("menu", "menu.back")]
        elif screen == "doctors":
            dept = next(d for d in self.schedule.departments if d.code == data["dept"])
            view["title"] = f"{t('doctor.title', lang)}: {dept.name}"
            view["buttons"] = [
                {
                    "action": "doctor",
                    "arg": doc.code,
                    "label": f"{doc.name} {doc.title}  {doc.hours}  "
                    f"{t('doctor.fee', lang, fee=doc.fee)}  "
                    f"{t('doctor.places', lang, n=doc.places)}",
                    "kind": "big",
                }
                for doc in dept.doctors
            ] + [button("register", "back")]
        elif screen == "confirm":
            split: SetlInfo = data["split"]
            view["title"] = t("confirm.title", lang)
            view["lines"] = [
                *[[label, value] for label, value in data.get("what", [])],
                [t("confirm.total", lang), f"{split.medfee_sumamt} 元"],
                [t("confirm.fund", lang), f"{split.fund_pay_sumamt} 元"],
                [t("confirm.account", lang), f"{split.acct_pay} 元"],
                [t("confirm.cash", lang), f"{split.psn_cash_pay} 元"],
            ]
            view["buttons"] = [
                button("pay", "confirm.pay", kind="big"),
                button("decline", "confirm.cancel"),
            ]
        elif screen == "receipt":
            receipt: Receipt = data["receipt"]
            view["title"] = t("receipt.title", lang)
            lines = []
            if "queue_number" in receipt.extra:
                lines.append([t("receipt.queue", lang), receipt.extra["queue_number"]])
                lines.append([t("receipt.dept", lang), receipt.extra.get("department", "")])
                lines.append([t("receipt.doctor", lang), receipt.extra.get("doctor", "")])
            lines += [
                [t("identity.name", lang), mask_name(receipt.holder_name)],
                [t("confirm.total", lang), f"{receipt.total} 元"],
                [t("confirm.fund", lang), f"{receipt.fund} 元"],
                [t("confirm.account", lang), f"{receipt.account} 元"],
                [t("confirm.cash", lang), f"{receipt.cash} 元"],
                [t("receipt.setl", lang), receipt.setl_id],
            ]
            if receipt.balance is not None:
                lines.append([t("receipt.balance", lang), f"{receipt.balance} 元"])
            view["lines"] = lines
            view["buttons"] = (
                [button("menu", "menu.back"), button("finish", "menu.finish")]
                if patient is not None
                else [button("home", "home")]
            )
        elif screen == "outstanding":
            view["title"] = t("outstanding.title", lang)
            visits: list[flows.DeskVisit] = data["visits"]
            if not visits:
                view["lines"] = [["", t("outstanding.none", lang)]]
            view["buttons"] = [
                {
                    "action": "settle",
                    "arg": v.mdtrt_id,
                    "label": f"{v.dept_name or ''} {v.dr_name or ''}  {v.total} 元  "
                    f"{t('outstanding.pay', lang)}",
                    "kind": "big",
                }
                for v in visits
            ] + [button("menu", "menu.back")]
        elif screen == "balance":
            view["title"] = t("balance.title", lang)
            lines = [[t("balance.balance", lang), f"{data['balance']} 元"]]
            records = data.get("records")
            if records is None:
                lines.append(["", t("balance.voucher", lang)])
            elif not records:
                lines.append(["", t("balance.none", lang)])
            else:
                lines.append([t("balance.records", lang), ""])
                lines += [[when, text] for when, text in records]
            view["lines"] = lines
            view["buttons"] = [button("menu", "menu.back"), button("finish", "menu.finish")]
        elif screen == "loss":
            view["title"] = t("loss.title", lang)
            if patient is not None and patient.mode == "voucher":
                view["lines"] = [["", t("loss.voucher", lang)]]
                view["buttons"] = [button("menu", "menu.back")]
            else:
                view["lines"] = [["", t("loss.explain", lang)]]
                view["buttons"] = [
                    button("loss_confirm", "loss.confirm", kind="big"),
                    button("menu", "menu.back"),
                ]
        elif screen == "loss_done":
            view["title"] = t("loss.title", lang)
            view["lines"] = [["", t("loss.done", lang, card=data["card"])]]
            view["buttons"] = [button("finish", "menu.finish")]
        elif screen == "refused":
            view["title"] = t("refused.title", lang)
            buttons = []
            if data.get("retry_pin"):
                buttons.append(button("retry_pin", "again", kind="big"))
            if patient is not None and data.get("to_menu"):
                buttons.append(button("menu", "menu.back"))
            buttons.append(button("finish" if patient is not None else "home", "home"))
            view["buttons"] = buttons
        elif screen == "take_card":
            view["title"] = t("take_card.title", lang)
        elif screen == "goodbye":
            view["title"] = t("take_card.voucher", lang)

    # -- state changes -----------------------------------------------------------------------
    def _set(self, screen: str, **data: Any) -> None:
        with self._lock:
            self._screen = screen
            self._data = data
            self._busy = None
            if screen != "refused":
                self._message = None
            self._changed()

    def _set_busy(self, key: str) -> None:
        with self._lock:
            self._screen = "busy"
            self._busy = key
            self._changed()

    def _refused(self, exc: BaseException, **data: Any) -> None:
        with self._lock:
            self._message = refusal(exc)
            self._screen = "refused"
            self._data = data
            self._busy = None
            self._changed()

    def touch(self) -> None:
        with self._lock:
            self._touched = time.monotonic()

    def set_lang(self, lang: str) -> None:
        if lang not in ("zh", "en"):
            raise UsageError("lang is zh or en")
        with self._lock:
            self._lang = lang
            self._changed()
        self.touch()

    def _progress(self, step: str) -> None:
        key = "busy.center"
        if step.startswith("reading"):
            key = "busy.reading"
        elif step.startswith("ec.query"):
            key = "busy.voucher"
        elif step.startswith("payment"):
            key = "busy.paying"
        elif step == "PIN":
            return
        self._set_busy(key)

    # -- the patient's actions -----------------------------------------------------------------
    def press_key(self, token: str) -> None:
        self.touch()
        self.pinpad.press(token)
        with self._lock:
            self._changed()

    def scan(self, code: str) -> None:
        """The scanner typed a voucher's code (welcome screen only)."""
        self.touch()
        voucher = flows.Voucher(code)  # UsageError: not a code
        with self._lock:
            if self._screen != "welcome" or self._job is not None:
                return
            self._patient = _Patient("voucher", voucher=voucher)
            self._start_job(self._identify_voucher)

    def act(self, action: str, arg: str = "") -> None:
        """A button of the page."""
        self.touch()
        with self._lock:
            screen, patient = self._screen, self._patient
            if action == "home":
                if patient is None and self._job is None:
                    self._set("welcome")
                return
            if action in ("pay", "decline") and screen == "confirm":
                self._decided = action == "pay"
                self._decision.set()
                return
            if patient is None or self._job is not None:
                return
            if action == "menu":
                self._set("menu")
            elif action == "register":
                self._set("departments")
            elif action == "dept":
                if any(d.code == arg for d in self.schedule.departments):
                    self._set("doctors", dept=arg)
            elif action == "doctor" and screen == "doctors":
                dept = self._data["dept"]
                self._start_job(lambda: self._register(dept, arg))
            elif action == "outstanding":
                self._start_job(self._list_outstanding)
            elif action == "settle" and screen == "outstanding":
                visit = next((v for v in self._data["visits"] if v.mdtrt_id == arg), None)
                if visit is not None:
                    self._start_job(lambda: self._pay_outstanding(visit))
            elif action == "balance":
                self._start_job(self._balance)
            elif action == "loss":
                self._set("loss")
            elif action == "loss_confirm" and screen == "loss":
                self._start_job(self._report_loss)
            elif action == "retry_pin" and patient.mode == "card":
                self._start_job(self._identify_card)
            elif action == "finish":
                self._finish()

    def _finish(self) -> None:
        with self._lock:
            patient = self._patient
            if patient is not None and patient.mode == "card" and patient.card is not None:
                self._drop_personal()
                self._set("take_card")
            else:
                self._drop_patient()
                self._set("goodbye")
                self._goodbye_at = time.monotonic() + GOODBYE_SECONDS

    # -- jobs ------------------------------------------------------------------------------------
    def _start_job(self, work: Callable[[], None]) -> None:
        """Run ``work`` in the worker thread (the caller holds the lock)."""
        self._abort = False

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # shown as one sentence; never a traceback on screen
                if not isinstance(exc, SscardError):
                    log.warning("kiosk job failed: %s", type(exc).__name__)
                self._after_failure(exc)
            finally:
                with self._lock:
                    self._job = None
                    if self._abort:
                        self._abort = False
                        self._reset_to_welcome()
                    elif self._patient is None and self._screen == "busy":
                        # the card left while the job finished its step: say so
                        self._pulled = False
                        self._refused(CardRemovedError("the card was removed"))

        self._job = threading.Thread(target=run, name="sscard-kiosk-flow", daemon=True)
        self._job.start()

    def _after_failure(self, exc: BaseException) -> None:
        with self._lock:
            patient = self._patient
            aborted, pulled = self._abort, self._pulled
            self._pulled = False
        if aborted:
            return
        if pulled:
            self._drop_patient()
            self._refused(CardRemovedError("the card was removed"))
            return
        if isinstance(exc, PinCancelled):  # the patient pressed Cancel on the PIN pad
            self._finish()
            return
        retry = isinstance(exc, WrongPinError)
        identified = patient is not None and patient.holder is not None
        if not retry and not identified:
            self._drop_patient()
        elif retry:
            self._drop_personal(keep_card=True)
        self._refused(exc, retry_pin=retry, to_menu=identified and not retry)

    def _confirm(self, what: list[tuple[str, str]]) -> Callable[[SetlInfo], bool]:
        def ask(split: SetlInfo) -> bool:
            with self._lock:
                if self._abort:
                    return False
                self._decision.clear()
                self._decided = False
                self._set("confirm", split=split, what=what)
            self._decision.wait()
            with self._lock:
                return self._decided and not self._abort

        return ask

    def _identity_from_card(self, record: CardholderRecord) -> None:
        holder = record.holder
        identity = [
            ("identity.name", mask_name(holder.name or "") if holder else ""),
            ("identity.id", mask_id_number(holder.id_number or "") if holder else ""),
            ("identity.card", record.issuer.card_number or ""),
        ]
        with self._lock:
            if self._patient is not None:
                self._patient.identity = identity
            self._set("pin")

    def _open_card(self) -> SocialSecurityCard:
        with self._lock:
            patient = self._patient
        if patient is None:
            raise PinCancelled("the card session ended")
        if patient.card is None:
            patient.card = patient.stack.enter_context(self.station.card(self.reader))
        return patient.card

    def _identify_card(self) -> None:
        self._set_busy("busy.reading")
        card = self._open_card()
        holder = flows.identify(
            card,
            self.station.sam,
            self.pinpad,
            self.station.client,
            progress=self._progress,
            on_read=self._identity_from_card,
        )
        self._identified(holder)

    def _identify_voucher(self) -> None:
        self._set_busy("busy.voucher")
        with self._lock:
            patient = self._patient
        assert patient is not None and patient.voucher is not None
        holder = flows.identify_voucher(
            patient.voucher, self.station.client, progress=self._progress
        )
        base = holder.person.baseinfo
        patient.identity = [
            ("identity.name", mask_name(base.psn_name or "")),
            ("identity.id", mask_id_number(base.certno or "")),
            ("identity.credential", "医保电子凭证 e-voucher"),
        ]
        self._identified(holder)

    def _identified(self, holder: flows.Holder) -> None:
        with self._lock:
            if self._patient is None or self._abort:
                return
            self._patient.holder = holder
            self._set("menu")

    def _holder(self) -> tuple[_Patient, flows.Holder]:
        with self._lock:
            patient = self._patient
        if patient is None or patient.holder is None:
            raise PinCancelled("the session ended")
        return patient, patient.holder

    def _register(self, dept_code: str, doctor_code: str) -> None:
        patient, holder = self._holder()
        dept, doc = self.schedule.find(dept_code, doctor_code)
        self._set_busy("busy.center")
        receipt = flows.kiosk_register(
            patient.presented,
            self.station.sam,
            None,
            self.station.client,
            self.schedule,
            dept_code,
            doctor_code,
            self.payments,
            queue=self.queue,
            confirm=self._confirm(
                [
                    ("科室 / Department", dept.name),
                    ("医生 / Doctor", f"{doc.name} {doc.title} {doc.hours}"),
                ]
            ),
            progress=self._progress,
            holder=holder,
        )
        self._receipt(patient, receipt)

    def _receipt(self, patient: _Patient, receipt: Receipt) -> None:
        if receipt.balance is not None:
            patient.balance = receipt.balance
        self._set("receipt", receipt=receipt)

    def _list_outstanding(self) -> None:
        _, holder = self._holder()
        visits = self.orders.outstanding(holder.ref.psn_no) if self.orders else []
        self._set("outstanding", visits=visits)

    def _pay_outstanding(self, visit: flows.DeskVisit) -> None:
        patient, holder = self._holder()
        self._set_busy("busy.center")
        receipt = flows.pay_outstanding(
            patient.presented,
            self.station.sam,
            None,
            self.station.client,
            visit,
            self.payments,
            confirm=self._confirm(
                [("就诊 / Visit", f"{visit.dept_name or ''} {visit.dr_name or ''}")]
            ),
            progress=self._progress,
            holder=holder,
        )
        if self.orders is not None:
            self.orders.mark_paid(visit.mdtrt_id, receipt.setl_id)
        self._receipt(patient, receipt)

    def _balance(self) -> None:
        patient, holder = self._holder()
        self._set_busy("busy.reading")
        balance = patient.balance
        if balance is None:
            balance = holder.insurance.balc if holder.insurance else Decimal("0.00")
        records: list[tuple[str, str]] | None = None
        if patient.card is not None:
            records = [
                (
                    f"{r.when:%Y-%m-%d %H:%M}",
                    f"{r.type.name.lower()} {r.institution} {r.amount} 元",
                )
                for r in patient.card.read_log()[:5]
            ]
        self._set("balance", balance=balance, records=records)

    def _report_loss(self) -> None:
        patient, holder = self._holder()
        if self.loss is None or not holder.card_no:
            raise UsageError("no card service to report the loss to")
        self._set_busy("busy.center")
        self.loss(holder.card_no)
        self._set("loss_done", card=holder.card_no)

    # -- the card, the clock -------------------------------------------------------------------
    def card_inserted(self) -> None:
        with self._lock:
            if self._screen not in ("welcome", "goodbye") or self._job is not None:
                return
            self._touched = time.monotonic()
            self._goodbye_at = None
            self._pulled = False
            self._patient = _Patient("card")
            self._start_job(self._identify_card)

    def card_removed(self) -> None:
        with self._lock:
            patient = self._patient
            if patient is None or patient.mode != "card":
                if self._job is None and self._screen in ("take_card", "refused"):
                    self._reset_to_welcome()  # the patient read the sentence and left
                return
            running = self._job is not None
            self._pulled = running
            self._drop_patient()
            if running:
                # the flow fails on the card (or rolls back at its prompt): say so
                self._cancel_waits()
            else:
                self._set("welcome")

    def _cancel_waits(self) -> None:
        self.pinpad.cancel()
        with self._lock:
            self._decided = False
        self._decision.set()

    def _drop_personal(self, keep_card: bool = False) -> None:
        with self._lock:
            patient = self._patient
            if patient is None:
                return
            patient.holder = None
            patient.identity = []
            if not keep_card:
                patient.voucher = None

    def _drop_patient(self) -> None:
        with self._lock:
            patient, self._patient = self._patient, None
        if patient is not None:
            with contextlib.suppress(Exception):
                patient.stack.close()
            patient.holder = None
            patient.identity = []

    def _reset_to_welcome(self) -> None:
        self._drop_patient()
        with self._lock:
            self._message = None
            self._lang = "zh"
            self._goodbye_at = None
            self._set("welcome")

    def idle_check(self, now: float | None = None) -> None:
        """Back to welcome after ``idle_seconds`` without a touch (and after a goodbye)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._goodbye_at is not None and now >= self._goodbye_at:
                self._reset_to_welcome()
                return
            if self._screen == "welcome" or now - self._touched < self.idle_seconds:
                return
            if self._job is not None:
                if self._screen in ("pin", "confirm"):
                    self._abort = True  # the job rolls back, then resets
                    self._cancel_waits()
                return
            self._reset_to_welcome()

    def _idle_loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.idle_check()
            except Exception:
                log.warning("idle check failed", exc_info=True)

    def _matches(self, name: str) -> bool:
        wanted = self.reader or self.station.spec.reader
        return wanted is None or wanted.lower() in name.lower()

    def _watch_loop(self) -> None:
        try:
            self._watcher = watch_readers(self.station.spec.transport)
        except SscardError as exc:
            log.warning("no card events: %s", exc.one_line())
            return
        watcher = self._watcher
        try:
            while not self._stop.is_set():
                try:
                    events = watcher.wait(0.5)
                except Exception:
                    log.warning("the reader watcher failed; retrying", exc_info=True)
                    self._stop.wait(0.5)
                    continue
                for event in events:
                    if not self._matches(event.reader):
                        continue
                    if event.present:
                        self.card_inserted()
                    else:
                        self.card_removed()
        finally:
            watcher.close()


def default_queue(path: Path | None) -> flows.QueueBook:
    return flows.QueueBook(path)
