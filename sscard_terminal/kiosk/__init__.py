"""The self-service kiosk: a touch web page over the terminal flows, with a
simulated PIN pad panel (``sscard kiosk serve``)."""
