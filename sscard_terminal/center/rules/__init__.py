"""The rules of the Ningbo guide (rules a-k), as pure functions.

Each module holds one rule or a close group, takes plain values and the policy
parameters it needs, and returns a value or raises
:class:`sscard_terminal.center.refusals.Refusal`. Nothing here touches the
database, the clock or the network.

====  ==========================  ==================================================
rule  module                      what
====  ==========================  ==================================================
a, b  ``benefits``                benefits from the month after paying; suspended after > 3 months
c     ``cards``                   card status machine, replacement deadline, refusals
c, d  ``sporadic``                sporadic reimbursement windows
d     ``credentials``             settle with a card only
e     ``schemes``                 Cixi rural cooperative: no medical use until enrolled
f     ``area``                    out-of-area care: filing, designated institution, no med_type 14
g     ``details``                 which personal details may change; no bank change
h     ``money``                   deductible, pooled fund, cap, classes A/B/C, personal account
i, j  ``applications``            a minor's application; the card fee
k     ``identity``                GB 11643 ID numbers
====  ==========================  ==================================================
"""
