-- PostgreSQL's migration 21 writes out the id at the end of two inspection indexes. Every SQLite
-- index already ends with the rowid (here the id), so `(user_id, occurred_at)` orders ties by id
-- and serves `(occurred_at, id) > (...)` and `ORDER BY occurred_at, id` as one range: nothing
-- changes on this engine. The file exists so both engines stand at the same migration number.
SELECT 1;
