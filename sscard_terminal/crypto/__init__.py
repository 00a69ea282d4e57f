"""Card cryptography of LD/T 32-2015 as card-spec.md summarises it: block
ciphers (3DES, SM4), key diversification, session keys, cryptograms, MACs and
PIN blocks. Built on ``cryptography``; no cipher is written by hand."""
