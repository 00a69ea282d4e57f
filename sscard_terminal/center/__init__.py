"""The settlement center: a stand-in for the city's medical-insurance platform.

It speaks the national interface for designated institutions (医疗保障信息平台
定点医药机构接口规范, as summarised in settlement-interface.md) over HTTP and
applies the rules of the Ningbo social security card guide. Layers, each
looking only down:

- ``wire``, ``envelope``, ``signature``: the wire format (JSON with Decimal
  amounts, request/response envelopes, the HMAC-SM3 signature in ``cainfo``);
- ``policy`` and ``policies/``: the per-area parameters as validated data;
- ``rules/``: the city's rules a-k as pure functions;
- ``models``, ``db``, ``migrations/``: storage through SQLAlchemy and Alembic;
- ``transactions/``: one module per group of national transactions;
- ``service``: one message = one database transaction, idempotent by msgid;
- ``admin``, ``seed``: the operator's side (enrolment, cards, data);
- ``api``: the HTTP application (FastAPI).

Nothing here imports the card side (driver, transport, vcard, vpcd) or any
client: the center shares only the wire format with them.
"""
