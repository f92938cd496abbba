-- A key link holds the key id of its provider: an AWS key ARN, a Google Cloud CryptoKey name or
-- an Azure key URL.
-- +goose Up
ALTER TABLE key_links DROP CONSTRAINT key_links_key_arn_check;
ALTER TABLE key_links ADD CONSTRAINT key_links_key_arn_check CHECK (
    key_arn LIKE 'arn:%:kms:%:key/%'
    OR key_arn ~ '^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$'
    OR key_arn ~ '^https://[^/]+/keys/[^/]+$');

-- +goose Down
ALTER TABLE key_links DROP CONSTRAINT key_links_key_arn_check;
ALTER TABLE key_links ADD CONSTRAINT key_links_key_arn_check CHECK (key_arn LIKE 'arn:%:kms:%:key/%');
