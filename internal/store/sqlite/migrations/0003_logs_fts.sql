-- A trigram index of log descriptions for *word* searches: FTS5 over the
-- logs table's own text (external content, so nothing is stored twice),
-- case sensitive like every log search, detail=none to stay small (a search
-- ANDs single trigrams and checks the candidates exactly). Kept in step by
-- triggers; logs rows are never updated.
CREATE VIRTUAL TABLE logs_fts USING fts5(
    description,
    content = 'logs', content_rowid = 'seq',
    tokenize = 'trigram case_sensitive 1', detail = none
);
INSERT INTO logs_fts (logs_fts) VALUES ('rebuild');

CREATE TRIGGER logs_fts_insert AFTER INSERT ON logs WHEN new.description <> '' BEGIN
    INSERT INTO logs_fts (rowid, description) VALUES (new.seq, new.description);
END;

CREATE TRIGGER logs_fts_delete AFTER DELETE ON logs WHEN old.description <> '' BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, description) VALUES ('delete', old.seq, old.description);
END;
