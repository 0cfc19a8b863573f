-- A cluster's maintenance window (part of its desired spec): the hours in
-- which its nodes may begin restarting onto a new version or new resources.
-- Stored as the VectorCluster's own `maintenanceWindow` object; NULL: at once.
ALTER TABLE vector_clusters
    ADD COLUMN maintenance_window jsonb
        CHECK (maintenance_window IS NULL
               OR (jsonb_typeof(maintenance_window) = 'object'
                   AND (maintenance_window ->> 'startHour')::int BETWEEN 0 AND 23
                   AND (maintenance_window ->> 'durationHours')::int BETWEEN 1 AND 24));
