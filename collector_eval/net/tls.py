"""TLS material for the receiver and the downstream exporter, read and checked at start.

grpc reports a bad certificate or key only at the first handshake, as an opaque connection failure on
the client's side; loading the files into an ssl context first turns that into an error naming the key.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from collector_eval.config.checks import ConfigError
from collector_eval.net.options import GrpcTlsConfig


def read_pem(file: str, key: str) -> bytes:
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {file}: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ConfigError(f"{key}: {file} is not a PEM file")
    return data


def _check_ca(file: str, key: str) -> None:
    try:
        ssl.create_default_context(cafile=file)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{key}: {file} holds no usable CA certificate ({exc})") from None


def server_credentials(cfg: GrpcTlsConfig, path: str = "receiver.grpc.tls") -> grpc.ServerCredentials | None:
    """None for plaintext; TLS with cert_file and key_file; mutual TLS when client_ca_file is set too."""
    if not cfg.cert_file:
        return None
    cert = read_pem(cfg.cert_file, f"{path}.cert_file")
    key = read_pem(cfg.key_file, f"{path}.key_file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cfg.cert_file, cfg.key_file)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"{path}.key_file: {cfg.key_file} is not the private key of {path}.cert_file {cfg.cert_file} ({exc})"
        ) from None
    if not cfg.client_ca_file:
        return grpc.ssl_server_credentials([(key, cert)])
    client_ca = read_pem(cfg.client_ca_file, f"{path}.client_ca_file")
    _check_ca(cfg.client_ca_file, f"{path}.client_ca_file")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca, require_client_auth=True)


def server_ssl_context(cfg: GrpcTlsConfig, path: str = "receiver.grpc.tls") -> ssl.SSLContext | None:
    """The same TLS as server_credentials, for the receiver's other protocol (OTLP/HTTP): bearer
    tokens must not cross the wire in plaintext on one port when the other one is encrypted."""
    if server_credentials(cfg, path) is None:  # also checks the files, with errors naming the keys
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.cert_file, cfg.key_file)
    if cfg.client_ca_file:
        context.load_verify_locations(cfg.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def channel_credentials(ca_file: str, key: str) -> grpc.ChannelCredentials:
    """TLS verified against ca_file, or the system's roots when it is empty."""
    if not ca_file:
        return grpc.ssl_channel_credentials()
    roots = read_pem(ca_file, key)
    _check_ca(ca_file, key)
    return grpc.ssl_channel_credentials(root_certificates=roots)
