-- +goose Up
-- The regions an organisation uses (SPEC §11): its home region, and each region it added since.
-- A customer-managed organisation's region always has its data key link (key_links, same
-- transaction); a provider-managed one's uses the platform's key of that region.
CREATE TABLE org_regions (
    org_id     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    region     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (org_id, region)
);
INSERT INTO org_regions (org_id, region, created_at) SELECT id, region, created_at FROM orgs;

-- Health is per organisation, region and purpose: a backup key is monitored like the data key, but
-- its failure never changes a collection's state.
ALTER TABLE key_health ADD COLUMN purpose text NOT NULL DEFAULT 'data' CHECK (purpose IN ('data', 'backup'));
ALTER TABLE key_health ALTER COLUMN purpose DROP DEFAULT;
ALTER TABLE key_health DROP CONSTRAINT key_health_pkey;
ALTER TABLE key_health ADD PRIMARY KEY (org_id, region, purpose);
-- Every health row belongs to a key link: the row goes with its link.
ALTER TABLE key_health ADD CONSTRAINT key_health_link_fkey
    FOREIGN KEY (org_id, region, purpose) REFERENCES key_links (org_id, region, purpose) ON DELETE CASCADE;

-- Key events say which key they are about.
ALTER TABLE events ADD COLUMN purpose text NOT NULL DEFAULT '';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION key_links_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% key link of organisation % in % is immutable', OLD.purpose, OLD.org_id, OLD.region
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'key_links_immutable';
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM key_links WHERE purpose <> 'data')
        OR EXISTS (SELECT 1 FROM org_regions r JOIN orgs o ON o.id = r.org_id WHERE r.region <> o.region) THEN
        RAISE EXCEPTION 'organisations with added regions or backup keys exist: migrating below 17 would lose their links';
    END IF;
END;
$$;
-- +goose StatementEnd
ALTER TABLE events DROP COLUMN purpose;
ALTER TABLE key_health DROP CONSTRAINT key_health_link_fkey;
ALTER TABLE key_health DROP CONSTRAINT key_health_pkey;
ALTER TABLE key_health ADD PRIMARY KEY (org_id, region);
ALTER TABLE key_health DROP COLUMN purpose;
DROP TABLE org_regions;
