-- The OCI Distribution view (issue 19, docs/oci.md). Each version's OCI manifest is a pure function of
-- its name, label and manifest (registry_core::oci, generator `oci_generator`); these columns index it
-- so `/v2/NS/NAME/manifests/sha256:...` is one lookup. A NULL digest with a generator means the
-- version has too many files for a 4 MiB OCI manifest; a NULL generator means not computed yet (the
-- server fills those at start). Every serve regenerates the bytes and compares: the columns are an
-- index, never trusted as content.
ALTER TABLE versions ADD COLUMN oci_manifest_digest TEXT;
ALTER TABLE versions ADD COLUMN oci_manifest_size BIGINT;
ALTER TABLE versions ADD COLUMN oci_config_digest TEXT;
ALTER TABLE versions ADD COLUMN oci_generator TEXT;
CREATE INDEX versions_model_oci ON versions (model_id, oci_manifest_digest);
CREATE INDEX versions_model_oci_config ON versions (model_id, oci_config_digest);
CREATE INDEX versions_oci_pending ON versions (oci_generator) WHERE oci_generator IS NULL;
-- Each attestation served as an OCI referrer of its version: the digest of that referrer manifest.
ALTER TABLE attestations ADD COLUMN oci_manifest_digest TEXT;
CREATE INDEX attestations_oci ON attestations (oci_manifest_digest);
-- An attestation's bytes served as a blob of its repository, found by their digest.
CREATE INDEX attestations_digest ON attestations (digest);
