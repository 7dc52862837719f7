package webhook

import (
	"encoding/json"
	"time"

	"github.com/cryptopay/cryptopay"
)

// EventBody is an event on the wire: the body of every delivery and each
// item of GET /v1/events, so a merchant parses one shape.
type EventBody struct {
	ID         string              `json:"id"`
	Object     string              `json:"object"`
	Type       cryptopay.EventType `json:"type"`
	Livemode   bool                `json:"livemode"`
	APIVersion string              `json:"api_version"`
	CreatedAt  time.Time           `json:"created_at"`
	// Sequence numbers an invoice's events 1, 2, 3... in the order they
	// happened; absent on events not about an invoice.
	Sequence int64           `json:"sequence,omitempty"`
	Data     json.RawMessage `json:"data"`
}

// NewEventBody returns e's wire shape.
func NewEventBody(e *cryptopay.Event) EventBody {
	data := e.Data
	if data == nil {
		data = json.RawMessage("{}")
	}
	return EventBody{ID: e.ID, Object: "event", Type: e.Type, Livemode: e.Livemode,
		APIVersion: cryptopay.APIVersion, CreatedAt: e.CreatedAt, Sequence: e.Sequence, Data: data}
}

// EventPayload returns the exact bytes a delivery of e sends. It fails
// only if e.Data is not valid JSON.
func EventPayload(e *cryptopay.Event) ([]byte, error) {
	return json.Marshal(NewEventBody(e))
}
