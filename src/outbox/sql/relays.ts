/** Registers or refreshes a relay's heartbeat. $1 id, $2 hostname, $3 pid, $4 transport. */
export function heartbeatSql(s: string): string {
  return `
INSERT INTO ${s}.relays (id, hostname, pid, transport) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`;
}

export function unregisterRelaySql(s: string): string {
  return `DELETE FROM ${s}.relays WHERE id = $1`;
}
