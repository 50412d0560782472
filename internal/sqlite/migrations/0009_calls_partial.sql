-- The call log's client and token indexes leave out calls without a client
-- or a token (anonymous routes, refusals before authentication): nothing
-- looks them up by an empty id, and each index entry costs the writer a
-- B-tree insert. FindCalls adds the index's condition (client_id != '') to
-- its filter so that SQLite knows it may use the partial index.
DROP INDEX calls_client;
CREATE INDEX calls_client ON calls (client_id, at) WHERE client_id != '';
DROP INDEX calls_token;
CREATE INDEX calls_token ON calls (token_id, at) WHERE token_id != '';
