package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyevents"
)

type keyEventsSetupJSON struct {
	EventPattern   map[string]any `json:"event_pattern"`
	CLI            string         `json:"cli"`
	Terraform      string         `json:"terraform"`
	CloudFormation string         `json:"cloudformation"`
}

func (a *API) enableKeyEvents(w http.ResponseWriter, r *http.Request) {
	on, err := a.keyEvents.Enable(r.Context(), orgOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Endpoint   string             `json:"endpoint"`
		APIKeyName string             `json:"api_key_name"`
		APIKey     string             `json:"api_key"`
		Setup      keyEventsSetupJSON `json:"setup"`
	}{on.Endpoint, keyevents.APIKeyName, on.APIKey, keyEventsSetupJSON{on.Setup.EventPattern, on.Setup.CLI, on.Setup.Terraform,
		on.Setup.CloudFormation}})
}

func (a *API) getKeyEvents(w http.ResponseWriter, r *http.Request) {
	st, err := a.keyEvents.Status(r.Context(), orgOf(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var created *time.Time
	if st.Configured {
		created = &st.CreatedAt
	}
	writeJSON(w, http.StatusOK, struct {
		Configured     bool       `json:"configured"`
		Endpoint       string     `json:"endpoint"`
		EventsReceived int64      `json:"events_received"`
		EventsMatched  int64      `json:"events_matched"`
		LastEventAt    *time.Time `json:"last_event_at"`
		LastEventName  string     `json:"last_event_name"`
		CreatedAt      *time.Time `json:"created_at"`
	}{st.Configured, st.Endpoint, st.EventsReceived, st.EventsMatched, st.LastEventAt, st.LastEventName, created})
}

func (a *API) disableKeyEvents(w http.ResponseWriter, r *http.Request) {
	a.noContent(w, r, a.keyEvents.Disable(r.Context(), orgOf(r)))
}

// receiveKeyEvent takes one event from a customer's EventBridge API destination. It has no bearer
// token: the organisation's api key authenticates it, before anything else is read, and a wrong key
// and an unknown organisation answer alike. Its body is never logged.
func (a *API) receiveKeyEvent(w http.ResponseWriter, r *http.Request) {
	ctx, orgID := r.Context(), chi.URLParam(r, "org")
	if err := a.keyEvents.Authenticate(ctx, orgID, r.Header.Get(keyevents.APIKeyName)); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.keyEvents.Allow(orgID); err != nil {
		a.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, keyevents.MaxEvent))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.keyEvents.TooLarge()
			a.writeError(w, r, domain.Errorf(domain.KindTooLarge, domain.CodePayloadTooLarge, "an event may be at most %d bytes", keyevents.MaxEvent))
			return
		}
		a.writeError(w, r, domain.Errorf(domain.KindMalformed, domain.CodeInvalidJSON, "the request body could not be read"))
		return
	}
	if err := a.keyEvents.Receive(ctx, orgID, body); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}
