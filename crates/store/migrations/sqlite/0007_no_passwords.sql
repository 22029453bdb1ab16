-- Passwords pushed over SCIM were kept with the user; idsync now keeps none (RFC 7643 §7:
-- returned never, write-only). Drop the ones stored before. The version does not change, so
-- nothing is journaled: no target ever received a password.
UPDATE resources SET data = json_remove(data, '$.password')
    WHERE kind = 'User' AND json_extract(data, '$.password') IS NOT NULL;
