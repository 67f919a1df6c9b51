-- Keyless attestations (issue 17): the workload identity a Fulcio certificate named, as verified at
-- ingest (JSON: issuer, subject, claims, trust_root, signed_at); NULL for key-signed attestations,
-- whose signer is signer_key_id alone. Statuses and policy input re-judge it against today's identities.
ALTER TABLE attestations ADD COLUMN signer_identity TEXT;
