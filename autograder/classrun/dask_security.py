"""Mutual TLS for the Dask cluster: ``python -m autograder dask-certs [DIR]`` makes its certificates;
:func:`client_security` is what the coordinator (``grade --scheduler``) connects with.

``DIR`` (default :data:`DEFAULT_DIR`, mode 0700) receives ``ca.pem`` and, for each role (the
scheduler, the workers, the coordinator's client), ``ROLE.pem`` and its private key ``ROLE.key``
(mode 0600). The CA's own private key is never written: nobody can sign another certificate, and
running the command again into an empty folder replaces them all. Dask's ``Security`` makes both
ends of every connection present a certificate signed by that CA (host names are not checked:
Dask expects a CA of the cluster's own). A plain ``tcp://`` scheduler is refused unless it is a
loopback address and the instructor asked for it (``--insecure-loopback``).
"""
import argparse
import datetime
import ipaddress
import os
import sys
from pathlib import Path

DEFAULT_DIR = Path.home() / ".config" / "autograder" / "dask-certs"
ROLES = ("scheduler", "worker", "client")
CA = "ca.pem"
VALID_DAYS = 365


class Refused(ValueError):
    """A scheduler address or certificate folder the coordinator will not use; the message says why."""


def files(folder: Path, role: str) -> tuple:
    """``(certificate, private key)`` of ``role`` in ``folder``."""
    return Path(folder) / f"{role}.pem", Path(folder) / f"{role}.key"


def make(folder: Path) -> list:
    """Write a new CA certificate and a certificate and key per role into ``folder``; the paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(folder)
    targets = [folder / CA] + [path for role in ROLES for path in files(folder, role)]
    taken = [path.name for path in targets if path.exists() or path.is_symlink()]
    if taken:
        raise Refused(f"{folder} already holds {', '.join(taken)}: give an empty or new folder")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.is_symlink() or folder.stat().st_uid != os.getuid():
        raise Refused(f"{folder} is not a folder of this account's own: give another one")
    os.chmod(folder, 0o700)
    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject, key, issuer, issuer_key, ca: bool):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False)
                   .add_extension(x509.KeyUsage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True))
        if not ca:  # every role both serves and connects (workers talk to each other)
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("autograder dask CA", ca_key, None, ca_key, ca=True)
    written = [_write(folder / CA, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)]
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert_path, key_path = files(folder, role)
        written.append(_write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()), 0o600))
        cert = certificate(f"autograder dask {role}", key, ca_cert.subject, ca_key, ca=False)
        written.append(_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644))
    return written


def _write(path: Path, data: bytes, mode: int) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)  # whatever the umask
    return path


def client_security(address: str, folder: Path = DEFAULT_DIR, insecure_loopback: bool = False):
    """The ``distributed.security.Security`` to reach the scheduler at ``address`` with (None: the
    allowed plain loopback case); :class:`Refused` for any other address or a missing certificate."""
    from distributed.comm import parse_address, parse_host_port
    try:
        scheme, location = parse_address(address, strict=True)
        host = parse_host_port(location)[0]
    except ValueError:
        raise Refused(f"not a scheduler address: {address!r} (expected tls://HOST:PORT)") from None
    if scheme == "tcp":
        if not insecure_loopback:
            raise Refused(f"refusing the plain tcp:// scheduler {address}: anyone who can reach it, a "
                          "student logged in to the same machine included, can run code on the workers "
                          "and send back forged grades. Use the cluster's tls://HOST:PORT (certificates: "
                          "`python -m autograder dask-certs`, docs/grading.md), or, for a trial on this "
                          "machine only, a loopback tcp:// address with --insecure-loopback")
        if not _is_loopback(host):
            raise Refused(f"--insecure-loopback allows a plain tcp:// scheduler on a loopback address only "
                          f"(127.0.0.1, [::1]), not {host}: use tls://")
        return None
    if scheme != "tls":
        raise Refused(f"unsupported scheduler address {address!r}: use tls://HOST:PORT")
    from distributed.security import Security
    folder = Path(folder)
    cert, key = files(folder, "client")
    missing = [path.name for path in (folder / CA, cert, key) if not path.is_file()]
    if missing:
        raise Refused(f"no Dask client certificate in {folder} (missing {', '.join(missing)}): make the "
                      f"cluster's certificates with `python -m autograder dask-certs {folder}` "
                      "(docs/grading.md), or give their folder with --dask-certs DIR")
    if key.stat().st_mode & 0o077:
        raise Refused(f"{key} can be read by other users (mode {key.stat().st_mode & 0o777:o}): chmod 600 it")
    return Security(tls_ca_file=str(folder / CA), tls_client_cert=str(cert), tls_client_key=str(key),
                    require_encryption=True)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it could resolve anywhere
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR, metavar="DIR",
                        help="where to write them (default: %(default)s; created, mode 0700)")


def run(args) -> int:
    try:
        written = make(args.folder)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = args.folder
    print(f"wrote {', '.join(path.name for path in written)} in {folder} (valid {VALID_DAYS} days)\n"
          f"scheduler machine: {CA}, scheduler.pem, scheduler.key; every grading machine: {CA}, "
          f"worker.pem, worker.key; the coordinator keeps client.pem and client.key here "
          f"(grade --dask-certs {folder}). Keys: readable by the account running the service only.")
    return 0
