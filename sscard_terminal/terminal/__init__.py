"""Terminal flows over card and center: hospital swipe, pharmacy purchase,
self-service registration (settlement-interface.md, "Flows seen in real
integrations"). Each flow composes the card driver (PIN, security module), the
settlement client and its journal, and ends in a receipt."""
