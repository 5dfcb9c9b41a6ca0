-- A dictionary of the distinct log descriptions. A tenant log has few of
-- them ("Successful login", one per error, one per deprecation), so a *word*
-- search (description:*passwordless*) matches the pattern against the
-- dictionary and then finds the events through the index on description.
-- (A trigram index kept in step with every event cost more than half of each
-- log write, on the one writer that logins also need.)
CREATE TABLE log_descriptions (
    description TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

INSERT INTO log_descriptions (description)
    SELECT DISTINCT description FROM logs WHERE description <> '';

CREATE INDEX logs_description ON logs (description, id);
