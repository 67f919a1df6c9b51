-- Alias moves, read on their own: the scrubber replays every one each pass, and an audit bundle asked
-- by alias reads one model's. Without an index both scanned the whole log (10M entries: the whole
-- log table per pass, and per bundle). Partial: only alias moves, a small fraction of the log, so
-- appends of every other kind pay nothing.
CREATE INDEX log_alias_moves ON log_entries (idx) WHERE kind = 'alias.moved';
-- One model's moves: subjects are NS/NAME@VERSION, read as a byte-order range (COLLATE "C": the
-- database's own collation need not order by bytes, and a prefix range is only exact in byte order).
CREATE INDEX log_alias_moves_subject ON log_entries ((subject COLLATE "C"), idx) WHERE kind = 'alias.moved';
