-- Idle revocation (FindIdleCredentials) looks at active grants and active
-- API keys every few minutes; the tokens table holds every access token, so
-- without these partial indexes each check would read all live tokens.
CREATE INDEX grants_active ON grants (expires_at) WHERE revoked_at IS NULL;
CREATE INDEX tokens_active_api_keys ON tokens (expires_at) WHERE kind = 'api_key' AND revoked_at IS NULL;
