package domain

import "time"

// Collection states.
const (
	StateActive       = "active"
	StateIngestHalted = "ingest_halted"
	StatePaused       = "paused"
)

// Collection is a set of documents of one organisation in one region.
type Collection struct {
	ID             string
	OrgID          string
	Name           string
	Region         string
	State          string
	StateReason    string
	StateChangedAt time.Time
	Recoverable    bool
	CreatedAt      time.Time
}

// KeyHealth is what the monitor knows about one organisation's key in one region and purpose.
type KeyHealth struct {
	OrgID            string
	Region           string
	Purpose          string // data or backup
	KeyARN           string
	Status           string
	LastProbeAt      *time.Time
	LastOKAt         *time.Time
	UnavailableSince *time.Time
	LastError        *ProbeError
	NextProbeAt      time.Time
	// AchievedInterval is the time between the key's last two probes; nil until its second probe.
	AchievedInterval *time.Duration
}

// ProbeError is the last failure a probe met.
type ProbeError struct {
	Code    string
	Action  string
	Message string
}
