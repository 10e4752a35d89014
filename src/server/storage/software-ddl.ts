/**
 * What each host has installed now, as the agents' software records describe it (inventory, then
 * added/removed/changed deltas, applied in seq order at ingest). Keyed by host rather than agent,
 * so a workstation that enrolls again keeps its inventory. `architecture` is '' when unknown (a key
 * column). The same DDL for both stores.
 */
export const SOFTWARE_INSTALLED = `
CREATE TABLE IF NOT EXISTS software_installed (
  host TEXT NOT NULL, source TEXT NOT NULL, name TEXT NOT NULL, architecture TEXT NOT NULL,
  version TEXT, publisher TEXT, install_time TEXT, agent_id TEXT NOT NULL,
  first_seen TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (host, source, name, architecture)
);
CREATE INDEX IF NOT EXISTS software_installed_name ON software_installed (name, source);
`;
