-- Where a contact's CRM record opens in a browser: a URL with `{id}` standing for the
-- CRM id (e.g. https://app.hubspot.com/contacts/12345/record/0-1/{id}); empty: no link.
ALTER TABLE crm_settings ADD COLUMN record_url TEXT NOT NULL DEFAULT '';
