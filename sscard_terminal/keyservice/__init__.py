"""The key service of the two-step (HSM) mode (card-spec.md "Reading without a
PSAM: the key-service (HSM) mode").

A terminal without a PSAM sends the line
``region|ATR|algorithm|card id code|IA process|IA source|EA process|EA source|terminal no|``
and the card's INTERNAL AUTHENTICATE answer; the service checks that answer
with the card's IRK (key 00) and only then returns the EXTERNAL AUTHENTICATE
cryptogram for RKSSSE (key 0A).

- :mod:`~sscard_terminal.keyservice.core`: the sans-IO service (validation,
  terminal registry check, replay guard, the computations);
- :mod:`~sscard_terminal.keyservice.registry`: the terminal registry file;
- :mod:`~sscard_terminal.keyservice.server`: the HTTP layer (FastAPI + uvicorn),
  ``POST /keyservice/v1/step1``.

The terminal-side client is :class:`sscard_terminal.driver.keyservice_client.KeyServiceSam`;
the two share only the wire format.
"""
