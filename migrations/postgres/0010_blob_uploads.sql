-- Proof of possession: who uploaded (and so holds) which blob, and when. A version may reference a
-- blob only if its pusher can read it through a covered model or uploaded it itself recently; the
-- dedup check answers on the same terms, so it tells nobody what other namespaces store.
CREATE TABLE blob_uploads (
    digest      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (digest, actor)
);
CREATE INDEX blob_uploads_uploaded_at ON blob_uploads (uploaded_at);
