-- What the host last wrote to each open deal (name, amount, stage as JSON), for the
-- sync audit.
ALTER TABLE crm_deals ADD COLUMN written TEXT;
