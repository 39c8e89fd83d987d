"""Options of the listeners' and clients' transport: TLS and bearer-token auth."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector_eval.config.checks import ConfigError


@dataclass
class GrpcAuthConfig:
    # Bearer tokens accepted on every RPC; with none here and no tokens_file, anyone may send.
    tokens: list[str] = field(default_factory=list)
    # One token per line, blank lines and #comments ignored; read at start, added to tokens.
    tokens_file: str = ""

    def validate(self, path: str) -> None:
        for i, token in enumerate(self.tokens):
            # A header value cannot carry them, so such a token could never match.
            if not token or any(c.isspace() or not c.isprintable() for c in token):
                raise ConfigError(f"{path}.tokens[{i}]: must be non-empty, without whitespace or control characters")


@dataclass
class GrpcTlsConfig:
    cert_file: str = ""  # PEM; with key_file: the receiver speaks TLS
    key_file: str = ""
    # PEM CA bundle; set: mutual TLS, clients must present a certificate signed by it.
    client_ca_file: str = ""

    def validate(self, path: str) -> None:
        if self.cert_file and not self.key_file:
            raise ConfigError(f"{path}.key_file: required when {path}.cert_file is set")
        if self.key_file and not self.cert_file:
            raise ConfigError(f"{path}.cert_file: required when {path}.key_file is set")
        if self.client_ca_file and not self.cert_file:
            raise ConfigError(f"{path}.cert_file: required when {path}.client_ca_file is set (mutual TLS is TLS)")
