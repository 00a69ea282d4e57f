"""Single-block and CBC encryption with the card's two cipher families.

- 8-byte block: DES/3DES (``cryptography.hazmat.decrepit``). A 16-byte key is
  two-key 3DES (K1 K2 K1); an 8-byte key is single DES, run as TripleDES with
  the key repeated (K K K), as card-spec.md notes.
- 16-byte block: SM4 (GB/T 32907-2016). SSF33 is not public; the project does
  not implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Algorithm = Literal["3des", "sm4"]


def _algorithm(alg: Algorithm, key: bytes) -> algorithms.SM4 | TripleDES:
    if alg == "sm4":
        if len(key) != 16:
            raise ValueError("an SM4 key has 16 bytes")
        return algorithms.SM4(key)
    if len(key) == 8:
        key = key * 3
    elif len(key) == 16:
        key = key + key[:8]
    elif len(key) != 24:
        raise ValueError("a DES/3DES key has 8, 16 or 24 bytes")
    return TripleDES(key)


@dataclass(frozen=True, slots=True)
class BlockCipher:
    """One of the card's algorithms, with its block size."""

    name: Algorithm

    @property
    def block_size(self) -> int:
        return 16 if self.name == "sm4" else 8

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        """ECB encryption of whole blocks (one block in most uses)."""
        if not data or len(data) % self.block_size:
            raise ValueError(f"data must be whole {self.block_size}-byte blocks")
        enc = Cipher(_algorithm(self.name, key), modes.ECB()).encryptor()
        return enc.update(data) + enc.finalize()

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        if not data or len(data) % self.block_size:
            raise ValueError(f"data must be whole {self.block_size}-byte blocks")
        dec = Cipher(_algorithm(self.name, key), modes.ECB()).decryptor()
        return dec.update(data) + dec.finalize()

    def cbc_last_block(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        """The last block of a CBC encryption (the raw CBC-MAC)."""
        if len(iv) != self.block_size:
            raise ValueError("IV of the wrong size")
        enc = Cipher(_algorithm(self.name, key), modes.CBC(iv)).encryptor()
        out = enc.update(data) + enc.finalize()
        return out[-self.block_size :]


TDES = BlockCipher("3des")
SM4 = BlockCipher("sm4")


def cipher_for(name: str) -> BlockCipher:
    if name == "3des":
        return TDES
    if name == "sm4":
        return SM4
    raise ValueError(f"unsupported algorithm {name!r} (3des and sm4 are implemented)")
