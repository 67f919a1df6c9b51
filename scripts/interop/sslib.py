"""Interop with the Python reference tools: securesystemslib signs and verifies DSSE, the statement is
built with in-toto-attestation.

  sslib.py sign   --subject NAME --digest HEX --out ENV.json --public-key-out PUB.pem
  sslib.py verify --envelope ENV.json --public-key PUB.pem --keyid KEYID
"""
import argparse
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.json_format import MessageToDict
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, SSlibKey

SLSA = "https://slsa.dev/provenance/v1"


def sign(a):
    private = ed25519.Ed25519PrivateKey.generate()
    signer = CryptoSigner(private, SSlibKey.from_crypto(private.public_key()))
    subject = ResourceDescriptor(name=a.subject, digest={"sha256": a.digest}).pb
    predicate = {
        "buildDefinition": {"buildType": "https://example.com/sslib-training/v1", "externalParameters": {"lr": 0.01}},
        "runDetails": {"builder": {"id": "https://example.com/sslib-builder"}},
    }
    statement = MessageToDict(Statement([subject], SLSA, predicate).pb)
    env = Envelope(json.dumps(statement).encode(), "application/vnd.in-toto+json", {})
    env.sign(signer)
    with open(a.out, "w") as f:
        json.dump(env.to_dict(), f)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(a.public_key_out, "wb") as f:
        f.write(pem)


def verify(a):
    with open(a.public_key, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    scheme = "ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "ecdsa-sha2-nistp256"
    key = SSlibKey.from_crypto(public, keyid=a.keyid, scheme=scheme)
    with open(a.envelope) as f:
        env = Envelope.from_dict(json.load(f))
    verified = env.verify([key], 1)
    statement = json.loads(env.payload)
    print(f"securesystemslib verified {sorted(verified)} for {statement['predicateType']}")


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
s = sub.add_parser("sign")
s.add_argument("--subject", required=True)
s.add_argument("--digest", required=True)
s.add_argument("--out", required=True)
s.add_argument("--public-key-out", required=True)
v = sub.add_parser("verify")
v.add_argument("--envelope", required=True)
v.add_argument("--public-key", required=True)
v.add_argument("--keyid", required=True)
args = p.parse_args()
try:
    sign(args) if args.cmd == "sign" else verify(args)
except Exception as e:  # noqa: BLE001 - report and fail
    print(f"sslib.py {args.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
