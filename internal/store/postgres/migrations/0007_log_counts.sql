-- Hourly counts of the events by type and client, kept as events are
-- appended: the console's overview reads them instead of scanning events.
-- hour is Unix ms / 3,600,000.
CREATE TABLE log_counts (
    hour      BIGINT NOT NULL,
    type      TEXT COLLATE "C" NOT NULL,
    client_id TEXT COLLATE "C" NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (hour, type, client_id)
);

INSERT INTO log_counts (hour, type, client_id, n)
SELECT date / 3600000, type, client_id, count(*) FROM logs GROUP BY 1, 2, 3;
