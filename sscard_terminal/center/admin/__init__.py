"""The operator's side of the center: the admin API's operations, separate from
the settlement interface and behind its own token (docs/center.md, "Admin API").

Each operation is a function of a session, the policy, the current time and a
validated request; the rules come from :mod:`sscard_terminal.center.rules`. A
:class:`~sscard_terminal.center.refusals.Refusal` is a business refusal (HTTP
409), :class:`~sscard_terminal.center.admin.base.NotFound` a missing record
(HTTP 404). One module per concept, as in ``rules/``:

================  =======================================================  ========
module            what                                                     rules
================  =======================================================  ========
``base``          request model, NotFound, lookups by key, stored time
``institutions``  registration, secret, SM2 key, gateway headers
``persons``       registration, the view of a person, detail changes       g, k
``enrolments``    enrolment, contributions, the personal account           a, b
``cards``         issue, application, loss, replacement; person files      c, g, i, j
``filings``       out-of-area and special-disease filings                  f
``claims``        sporadic reimbursement claims                            a-d
``catalogue``     drugs and services, their class and price cap            h
================  =======================================================  ========
"""
