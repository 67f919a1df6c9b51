-- Versions of one model, newest first (list pages, version counts).
CREATE INDEX versions_model_order ON versions (model_id, id);
