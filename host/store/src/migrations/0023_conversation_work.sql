-- Conversations as work: a state, an assignee (a person, a team, or both), private
-- notes between agents; who may see unassigned conversations; round-robin per team.
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'open';  -- open | pending | snoozed | resolved
ALTER TABLE conversations ADD COLUMN snoozed_until INTEGER;               -- Unix ms, while snoozed
ALTER TABLE conversations ADD COLUMN assignee_person INTEGER REFERENCES people(id);
ALTER TABLE conversations ADD COLUMN assignee_team INTEGER REFERENCES teams(id);
ALTER TABLE conversations ADD COLUMN assigned_at INTEGER;
UPDATE conversations SET state = 'resolved' WHERE resolved_at IS NOT NULL;
CREATE INDEX conversations_person ON conversations(tenant_id, assignee_person);
CREATE INDEX conversations_team ON conversations(tenant_id, assignee_team);

CREATE TABLE conversation_notes (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    author           TEXT NOT NULL,          -- person:ID | token:ID | operator
    body             TEXT NOT NULL,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX conversation_notes_conv ON conversation_notes(conversation_id, id);

-- Whether agents see conversations nobody is assigned to (1) or only their own and
-- their teams' (0).
ALTER TABLE tenants ADD COLUMN agents_see_unassigned INTEGER NOT NULL DEFAULT 1;
-- Whether an agent takes new conversations from round-robin assignment.
ALTER TABLE people ADD COLUMN available INTEGER NOT NULL DEFAULT 1;
-- The person a team's round-robin assigned last.
ALTER TABLE teams ADD COLUMN last_assigned INTEGER;
