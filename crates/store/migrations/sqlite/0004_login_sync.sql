-- The hash of the token an SSO plugin presents to ask for one user's sync at login.
ALTER TABLE sources ADD COLUMN login_token_hash BLOB;
