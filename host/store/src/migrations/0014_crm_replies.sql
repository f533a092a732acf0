-- Replies written in the CRM are sent to the customer: inside the 24-hour window as
-- text, outside it as this approved template ('' = held until the customer writes).
ALTER TABLE crm_settings ADD COLUMN reply_template TEXT NOT NULL DEFAULT '';
ALTER TABLE crm_settings ADD COLUMN reply_template_language TEXT NOT NULL DEFAULT 'en';
