"""Rule e: Cixi's new rural cooperative medical scheme (guide Q2).

"its insured personnel can not use it temporarily after receiving the social
security card. After the implementation of the medical insurance policy for
urban and rural residents ... [they] will use social security cards for
medical settlement after participating in the medical insurance for urban and
rural residents." A person of such a legacy scheme gets a card, and medical
use is refused until they are enrolled in the scheme's ``requires_insutype``.
"""

from __future__ import annotations

from collections.abc import Collection

from sscard_terminal.center.policy import LegacyScheme
from sscard_terminal.center.refusals import Refusal

__all__ = ["require_medical_use"]


def require_medical_use(
    legacy_scheme: str | None,
    enrolled_insutypes: Collection[str],
    schemes: dict[str, LegacyScheme],
) -> None:
    """Refuse medical use for a legacy-scheme person not yet enrolled as required."""
    if legacy_scheme is None:
        return
    scheme = schemes.get(legacy_scheme)
    if scheme is None or scheme.requires_insutype in enrolled_insutypes:
        return
    raise Refusal(
        "scheme.legacy",
        f"{scheme.name_zh}参保人员领卡后暂不能用于就医结算，须参加城乡居民医保"
        f"（险种 {scheme.requires_insutype}）后方可使用",
        f"insured of the {scheme.name_en} get a card but cannot use it for medical care "
        f"until they are enrolled in the urban and rural residents' insurance "
        f"(insutype {scheme.requires_insutype})",
    )
