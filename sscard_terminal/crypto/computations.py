"""The computations of card-spec.md "Computations" and "PSAM".

- key diversification (3DES: left = E(K, f), right = E(K, NOT f);
  SM4: E(K, f || NOT f), our inference, as for SSF33);
- session keys (8-byte block: SK = E(K, R), a 4-byte R extended with 00 00 00 00;
  16-byte block: SK = E(K, R || 00..));
- cryptograms (8-byte block: E(SK, source); 16-byte block: left8 XOR right8 of
  E(SK, source8 || 00 x 8));
- MACs over ``CLA INS P1 P2 Lc || data`` padded with 80 00..: CBC with the
  card's last challenge (padded with 00 to the block size) as the IV, so no MAC'd
  command can be replayed; 8-byte block: the leftmost 4 bytes, 16-byte block: the
  XOR of the four 4-byte words of the last block;
- the PIN block of PIN RELOAD/UNBLOCK (this project's definition: length byte +
  PIN as BCD F-padded, padded 80 00.., encrypted with the key in ECB).
"""

from __future__ import annotations

from sscard_terminal.crypto.ciphers import BlockCipher


def _not(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def diversify(cipher: BlockCipher, key: bytes, factor: bytes) -> bytes:
    """One level of key diversification with an 8-byte factor."""
    if len(factor) != 8:
        raise ValueError("a diversification factor has 8 bytes")
    if cipher.block_size == 8:
        return cipher.encrypt(key, factor) + cipher.encrypt(key, _not(factor))
    return cipher.encrypt(key, factor + _not(factor))


def diversify_levels(cipher: BlockCipher, key: bytes, factors: list[bytes]) -> bytes:
    """Several levels, in the order the factors are given (card factor, then city
    factor: the order of DELIVERY SESSION KEY's data field)."""
    for factor in factors:
        key = diversify(cipher, key, factor)
    return key


def pad_random(cipher: BlockCipher, random: bytes) -> bytes:
    """The random as a session-key input block: 4 bytes get 00 00 00 00, then 00s
    up to the block size."""
    if len(random) == 4:
        random = random + bytes(4)
    if len(random) > cipher.block_size:
        raise ValueError("random longer than a block")
    return random + bytes(cipher.block_size - len(random))


def session_key(cipher: BlockCipher, key: bytes, random: bytes) -> bytes:
    """SK = E(K, R) (8-byte block) or E(K, R || 00..) (16-byte block)."""
    # an 8-byte session key is a single-DES key, run as TripleDES K K K
    return cipher.encrypt(key, pad_random(cipher, random))


def cryptogram(cipher: BlockCipher, sk: bytes, source: bytes) -> bytes:
    """The 8-byte authentication cryptogram over an 8-byte source."""
    if len(source) != 8:
        raise ValueError("the source data has 8 bytes")
    if cipher.block_size == 8:
        return cipher.encrypt(sk, source)
    block = cipher.encrypt(sk, source + bytes(8))
    return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))


def auth_cryptogram(cipher: BlockCipher, key: bytes, process: bytes, source: bytes) -> bytes:
    """Session key from the process data, then the cryptogram over the source."""
    return cryptogram(cipher, session_key(cipher, key, process), source)


def pad80(data: bytes, block: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 80 then 00s, always added."""
    data = data + b"\x80"
    return data + bytes(-len(data) % block)


def mac(cipher: BlockCipher, key: bytes, challenge: bytes, data: bytes) -> bytes:
    """The 4-byte MAC of a command (card-spec.md "MAC")."""
    iv = challenge[: cipher.block_size] + bytes(max(0, cipher.block_size - len(challenge)))
    last = cipher.cbc_last_block(key, iv, pad80(data, cipher.block_size))
    if cipher.block_size == 8:
        return last[:4]
    words = [last[i : i + 4] for i in range(0, 16, 4)]
    out = bytearray(4)
    for word in words:
        for i in range(4):
            out[i] ^= word[i]
    return bytes(out)


def mac_input(header: bytes, data: bytes) -> bytes:
    """``CLA INS P1 P2 Lc || data`` where Lc counts the 4 MAC bytes."""
    return header[:4] + bytes((len(data) + 4,)) + data


def pin_block(cipher: BlockCipher, key: bytes, pin: str) -> bytes:
    """Encrypted PIN of PIN RELOAD/UNBLOCK: len || BCD(PIN, F-padded), 80 00.., ECB."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a PIN has 4 to 12 digits")
    digits = pin + ("F" if len(pin) % 2 else "")
    clear = bytes((len(pin),)) + bytes.fromhex(digits)
    return cipher.encrypt(key, pad80(clear, cipher.block_size))


def open_pin_block(cipher: BlockCipher, key: bytes, block: bytes) -> str | None:
    """The PIN inside an encrypted PIN block, or None if it does not decrypt to one."""
    try:
        clear = cipher.decrypt(key, block)
    except ValueError:
        return None
    n = clear[0]
    if not 4 <= n <= 12:
        return None
    digits = clear[1 : 1 + (n + 1) // 2].hex().upper()
    pin = digits[:n]
    rest = clear[1 + (n + 1) // 2 :]
    if not pin.isdigit() or (n % 2 and digits[-1] != "F") or not rest.startswith(b"\x80"):
        return None
    if any(rest[1:]):
        return None
    return pin


def pin_to_bcd(pin: str) -> bytes:
    """VERIFY's PIN field: BCD, F-padded (card-spec.md: Lc 02..08)."""
    if not pin.isdigit() or not 4 <= len(pin) <= 16:
        raise ValueError("a PIN has 4 to 16 digits")
    return bytes.fromhex(pin + ("F" if len(pin) % 2 else ""))


def bcd_to_pin(data: bytes) -> str | None:
    text = data.hex().upper()
    text = text[:-1] if text.endswith("F") else text
    return text if text.isdigit() and 4 <= len(text) <= 16 else None
