package domain

import "time"

// Backup states.
const (
	BackupRunning  = "running"
	BackupComplete = "complete"
	BackupFailed   = "failed"
)

// Backup is a consistent copy of one collection's documents at one moment. It outlives its
// collection and goes with its organisation.
type Backup struct {
	ID           string
	OrgID        string
	CollectionID string
	Region       string
	// KeyARN wraps the backup's data keys: the region's backup key, or its data key when it has none
	// (the platform's key for provider_managed organisations).
	KeyARN string
	// KeyPurpose is the purpose of KeyARN's link: PurposeBackup, or PurposeData when the region has
	// no backup key. A refusal of KeyARN is key_unavailable with this purpose.
	KeyPurpose string
	State      string
	// Documents counts the documents copied so far (all of them once complete).
	Documents  int64
	CreatedAt  time.Time
	FinishedAt *time.Time
}
