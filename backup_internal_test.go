package loam

// Backups in tests use a scrypt work factor of 2^10, not age's default
// of about a second each.
func init() { backupLogN = 10 }
