-- Attestations are deduplicated per version on the evidence they carry (payload type, payload bytes,
-- verified signer), not on their exact bytes: a re-encoded envelope or an ECDSA high-S twin signature
-- of a stored statement is the same evidence. Rows stored before this get their key at server start.
ALTER TABLE attestations ADD COLUMN evidence_key TEXT;
CREATE UNIQUE INDEX attestations_evidence ON attestations (version_id, evidence_key);

-- The public half of each key the server signs with ('log': checkpoints, 'attestation': promotion
-- decisions), recorded on first use. A server (or replica) started with another key refuses to start.
CREATE TABLE server_keys (
    purpose      TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
