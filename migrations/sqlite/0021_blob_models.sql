-- Which models reference each blob, by name (issue 22). Whether a caller may read or reuse a blob was
-- answered by joining version_blobs -> versions -> models: on PostgreSQL the planner evaluated that
-- EXISTS as a hashed subplan over every version of the caller's namespace (17-27 ms per push at 2,800
-- versions of one model, growing with each: create-version fell from 261 to 115 req/s over 3 runs), and
-- on either backend a blob referenced by many versions of other namespaces cost a walk over them. This
-- table answers it with one probe of its primary key. Models are never renamed and versions never
-- deleted, so rows are only added (with each version, in its transaction).
CREATE TABLE blob_models (
    digest    TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    PRIMARY KEY (digest, namespace, name)
);
INSERT INTO blob_models (digest, namespace, name)
    SELECT DISTINCT vb.digest, m.namespace, m.name
    FROM version_blobs vb JOIN versions v ON v.id = vb.version_id JOIN models m ON m.id = v.model_id;
