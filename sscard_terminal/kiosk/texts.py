"""Every text of the kiosk's screens, in Chinese and English, and the one
place where a refusal (of the card, the PIN, the center, the payment)
becomes one clear sentence with what to do next."""

from __future__ import annotations

from sscard_terminal.errors import (
    CardError,
    CardExpiredError,
    PinBlockedError,
    PinError,
    SscardError,
    TransportError,
    WrongPinError,
)
from sscard_terminal.settlement.errors import CenterRefused, CenterUnavailable, OutcomeUnknown
from sscard_terminal.terminal.flows import Declined, NotEligible
from sscard_terminal.terminal.payment import PaymentFailed

__all__ = ["LANGS", "Text", "refusal", "t"]

LANGS = ("zh", "en")
Text = tuple[str, str]

TEXTS: dict[str, Text] = {
    "brand": ("宁波市第一医院 自助服务", "Ningbo No. 1 Hospital self-service"),
    "welcome.title": ("欢迎使用自助服务", "Welcome"),
    "welcome.card": ("请插入社会保障卡", "Insert your social security card"),
    "welcome.voucher": (
        "或将手机上的医保电子凭证二维码对准扫码器",
        "or hold the medical-insurance voucher QR code on your phone to the scanner",
    ),
    "busy.reading": ("正在读卡，请勿拔卡…", "Reading the card, do not remove it…"),
    "busy.center": ("正在连接医保中心…", "Contacting the medical-insurance center…"),
    "busy.voucher": ("正在核验医保电子凭证…", "Checking the voucher…"),
    "busy.paying": ("正在支付…", "Paying…"),
    "busy.working": ("正在办理，请稍候…", "Working, please wait…"),
    "identity.title": ("请核对您的身份", "Please check your identity"),
    "identity.name": ("姓名", "Name"),
    "identity.id": ("身份证号", "ID number"),
    "identity.card": ("社保卡号", "Card number"),
    "identity.credential": ("凭证", "Credential"),
    "identity.voucher": ("医保电子凭证", "Medical-insurance voucher"),
    "pin.prompt": (
        "请在下方密码键盘上输入社保卡密码，按“确认”",
        "Enter your card PIN on the PIN pad below and press OK",
    ),
    "pin.entered": ("已输入 {n} 位", "{n} digits entered"),
    "pinpad.label": ("密码键盘（模拟设备）", "PIN pad (simulated device)"),
    "pinpad.note": (
        "此面板代表自助机上的密码键盘硬件，不是网页输入框",
        "This panel stands for the kiosk's PIN pad hardware; it is not a page field",
    ),
    "pinpad.ok": ("确认", "OK"),
    "pinpad.clear": ("更正", "Clear"),
    "pinpad.cancel": ("取消", "Cancel"),
    "menu.title": ("请选择业务", "Choose a service"),
    "menu.register": ("预约挂号", "Registration"),
    "menu.outstanding": ("门诊缴费", "Pay outpatient fees"),
    "menu.balance": ("余额与交易记录", "Balance and card records"),
    "menu.loss": ("社保卡临时挂失", "Temporary loss report"),
    "menu.finish": ("结束", "Finish"),
    "dept.title": ("请选择科室", "Choose a department"),
    "doctor.title": ("请选择医生", "Choose a doctor"),
    "doctor.places": ("号源 {n}", "{n} places"),
    "doctor.fee": ("挂号费 {fee} 元", "Fee {fee} yuan"),
    "back": ("返回", "Back"),
    "confirm.title": ("请确认费用", "Please confirm the amounts"),
    "confirm.total": ("费用合计", "Total"),
    "confirm.fund": ("统筹基金支付", "Paid by the fund"),
    "confirm.account": ("个人账户支付", "Paid from your account"),
    "confirm.cash": ("需自付现金", "To pay yourself"),
    "confirm.pay": ("确认支付", "Confirm and pay"),
    "confirm.cancel": ("取消", "Cancel"),
    "receipt.title": ("办理成功", "Done"),
    "receipt.queue": ("就诊序号", "Queue number"),
    "receipt.dept": ("科室", "Department"),
    "receipt.doctor": ("医生", "Doctor"),
    "receipt.setl": ("结算号", "Settlement"),
    "receipt.balance": ("账户余额", "Account balance"),
    "outstanding.title": ("待缴费用", "Fees to pay"),
    "outstanding.none": (
        "没有待缴的门诊费用；如有疑问请到收费窗口",
        "There are no outpatient fees to pay; ask at the cashier's desk if in doubt",
    ),
    "outstanding.pay": ("缴费", "Pay"),
    "balance.title": ("账户余额与最近交易", "Balance and last transactions"),
    "balance.balance": ("个人账户余额", "Personal account balance"),
    "balance.records": ("卡内最近交易记录", "The card's last transactions"),
    "balance.none": ("卡内没有交易记录", "The card holds no transaction records"),
    "balance.voucher": (
        "凭电子凭证不能读取卡内记录；请插卡查询",
        "The card's records need the card: insert it to see them",
    ),
    "loss.title": ("社保卡临时挂失", "Temporary loss report"),
    "loss.explain": (
        "挂失后此卡立即停用；找回后持身份证和社保卡到经办机构解除挂失，未找回请在5个工作日内申请补卡",
        "The card stops working at once; if you find it, cancel the report at a card agency "
        "with your ID card and the card, otherwise apply for a replacement within 5 working days",
    ),
    "loss.confirm": ("确认挂失", "Report it lost"),
    "loss.done": (
        "已临时挂失社保卡 {card}；请在5个工作日内申请补卡或解除挂失",
        "Card {card} is reported lost temporarily; apply for a replacement or cancel the "
        "report within 5 working days",
    ),
    "loss.voucher": (
        "凭电子凭证无法确定要挂失的卡；请拨打12333挂失",
        "With the voucher the kiosk cannot tell which card to report: call 12333",
    ),
    "take_card.title": ("请取走您的社保卡", "Please take your card"),
    "take_card.voucher": ("谢谢，再见", "Thank you, goodbye"),
    "refused.title": ("未能办理", "Not possible"),
    "again": ("重新输入密码", "Enter the PIN again"),
    "home": ("返回首页", "Back to the start"),
    "menu.back": ("返回菜单", "Back to the menu"),
    "lang": ("English", "中文"),
    "idle": ("{n} 秒无操作将返回首页", "Back to the start after {n} s without a touch"),
}


def t(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang`` with ``values`` filled in."""
    zh, en = TEXTS[key]
    return (en if lang == "en" else zh).format(**values)


_CARD_STATUS: dict[str, Text] = {
    "card.temporarily_lost": (
        "此卡已临时挂失，不能使用；请持身份证和社保卡到经办机构解除挂失后再来",
        "This card is reported lost and cannot be used; cancel the report at a card agency "
        "with your ID card and the card, then come back",
    ),
    "card.lost": (
        "此卡已挂失停用；请使用补领的新卡，或到社保卡服务网点补卡",
        "This card was reported lost and is stopped; use your replacement card or apply for "
        "one at a card service point",
    ),
    "card.replaced": (
        "此卡已被新卡替换，不能使用；请使用新卡",
        "This card has been replaced and cannot be used; use your new card",
    ),
    "card.damaged": (
        "此卡已登记损坏；请到社保卡服务网点换卡",
        "This card is registered as damaged; get a new one at a card service point",
    ),
}

_INSURANCE: dict[str, Text] = {
    "2": (
        "您的医保待遇已暂停{since}，本机不能结算；请到医保窗口咨询补缴",
        "Your medical insurance is suspended{since} and cannot settle here; ask at the "
        "medical-insurance desk about paying the missing months",
    ),
    "0": (
        "您的医保待遇尚未开始{since}，本次不能刷卡结算；请到人工窗口自费就诊",
        "Your insurance benefits have not started yet{since}; pay yourself at the staffed desk",
    ),
    "4": (
        "您的医保已终止，不能结算；请到医保窗口咨询",
        "Your medical insurance has ended and cannot settle; ask at the medical-insurance desk",
    ),
}

_VOUCHER: Text = (
    "医保电子凭证无效或已过期；请在手机上刷新后重新扫码",
    "The voucher is not valid or has expired; refresh it on your phone and scan again",
)


def refusal(exc: BaseException) -> Text:
    """One sentence with what to do next, for anything that stopped a kiosk flow."""
    if isinstance(exc, PinBlockedError):
        return (
            "密码已锁定；请持身份证到社保卡服务网点解锁",
            "The PIN is blocked; have it unblocked at a card service point with your ID card",
        )
    if isinstance(exc, WrongPinError):
        left = getattr(exc, "tries_left", None)
        more = f"，还可再试 {left} 次" if left is not None else ""
        more_en = f"; {left} tries left" if left is not None else ""
        return (f"密码错误{more}；请重新输入", f"Wrong PIN{more_en}; enter it again")
    if isinstance(exc, PinError):
        return ("密码未通过；请到人工窗口", "The PIN was not accepted; please go to a staffed desk")
    if isinstance(exc, CardExpiredError):
        return (
            "此卡已过有效期；请到社保卡服务网点换卡",
            "This card has expired; get a new one at a card service point",
        )
    if isinstance(exc, CardError | TransportError):
        return (
            "社保卡已拔出，本次业务已取消，未扣费；如需办理请重新插卡",
            "The card was removed: the transaction was cancelled and nothing was charged; "
            "insert the card to start again",
        )
    if isinstance(exc, NotEligible):
        zh, en = _INSURANCE.get(
            exc.psn_insu_stas or "",
            ("您的医保不能结算；请到医保窗口咨询", "Your insurance cannot settle; ask at the desk"),
        )
        since = exc.since or ""
        return zh.format(since=f"（{since}）" if since else ""), en.format(
            since=f" (since {since})" if since else ""
        )
    if isinstance(exc, OutcomeUnknown):
        return (
            "医保中心未回复，结算结果将自动核对；请勿重复缴费，到人工窗口查询",
            "The center did not answer and the outcome will be checked automatically; do not "
            "pay again, ask at a staffed desk",
        )
    if isinstance(exc, CenterUnavailable):
        return (
            "暂时无法连接医保中心，未扣费；请稍后再试或到人工窗口",
            "The medical-insurance center cannot be reached and nothing was charged; try again "
            "later or go to a staffed desk",
        )
    if isinstance(exc, CenterRefused):
        code = exc.err_code or ""
        if code in _CARD_STATUS:
            return _CARD_STATUS[code]
        if code.startswith("voucher."):
            return _VOUCHER
        if code.startswith("area."):
            return (
                "您不在本地参保且未办理异地就医备案，不能直接结算；请先办理备案或到人工窗口",
                "You are insured elsewhere without an out-of-area filing and cannot settle "
                "here; file first or go to a staffed desk",
            )
        if code.startswith("benefits."):
            return (
                "您的医保待遇暂不能享受；请到医保窗口咨询",
                "Your insurance benefits are not available now; ask at the medical-insurance desk",
            )
        return (
            "医保中心未受理本次业务；请到人工窗口",
            "The medical-insurance center did not accept this; please go to a staffed desk",
        )
    if isinstance(exc, PaymentFailed):
        return (
            "支付未成功，本次业务已取消，未扣费；请重试或到人工窗口",
            "The payment did not go through: nothing was charged and the transaction was "
            "cancelled; try again or go to a staffed desk",
        )
    if isinstance(exc, Declined):
        return ("已取消，未扣费", "Cancelled; nothing was charged")
    if isinstance(exc, SscardError):
        return (
            "本机暂时无法办理；请到人工窗口",
            "The kiosk cannot do this now; please go to a staffed desk",
        )
    return (
        "本机暂时无法办理；请到人工窗口",
        "The kiosk cannot do this now; please go to a staffed desk",
    )
