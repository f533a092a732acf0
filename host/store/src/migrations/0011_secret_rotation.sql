-- How old a tenant's secret may get before the tenant's health report warns that
-- it is due for rotation, in days.
ALTER TABLE tenants ADD COLUMN secret_rotation_days INTEGER NOT NULL DEFAULT 30;
