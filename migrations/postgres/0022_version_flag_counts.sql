-- The /metrics gauges count quarantined and corrupted versions at every scrape. Without an index that
-- was a scan of the whole versions table (on SQLite through every manifest's overflow pages: the flag
-- columns sit after them), ~1.5 GB read per scrape at 1M versions. Both are rare; a partial index holds
-- only them.
CREATE INDEX versions_quarantined ON versions (id) WHERE quarantined <> 0;
CREATE INDEX versions_corrupted ON versions (id) WHERE corrupted <> 0;
