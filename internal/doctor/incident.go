package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// checkIncident lists the incident actions in force (a freeze, a mass key
// revocation, a secret rotation) until `cryptopay incident unfreeze`
// closes the incident: an operator must never forget the gateway is
// frozen, nor that an incident is still open.
func checkIncident(ctx context.Context, in *Input) Result {
	if in.DB == nil {
		return skip("no database")
	}
	acts, err := in.DB.ListOpenIncidentActions(ctx)
	if err != nil {
		return fail("cannot read incident actions: "+err.Error(), "run `cryptopay migrate`")
	}
	if len(acts) == 0 {
		return pass("no incident in progress")
	}
	var parts []string
	frozen := false
	for _, a := range acts {
		frozen = frozen || a.Action == "freeze"
		parts = append(parts, fmt.Sprintf("%s by %s at %s (%s)", a.Action, a.Actor, a.CreatedAt.Format(time.RFC3339), a.ID))
	}
	detail := "incident in progress: " + strings.Join(parts, "; ")
	if frozen {
		return fail(detail+"; no live invoices are accepted", "when the incident is contained, run `cryptopay incident unfreeze`")
	}
	return warn(detail, "when the incident is over, run `cryptopay incident unfreeze` to close it")
}

// checkEmergencyContacts: the guide's emergency contacts, reached through
// the alert sinks.
func checkEmergencyContacts(_ context.Context, in *Input) Result {
	c := in.Config.Compliance
	switch {
	case len(c.EmergencyContacts) == 0:
		return fail("no emergency contacts: incidents and critical alerts reach only the log and the alert webhook",
			"set CRYPTOPAY_EMERGENCY_CONTACTS and CRYPTOPAY_SMTP_ADDR")
	case c.SMTP.Addr == "":
		return warn("emergency contacts are set but no SMTP server is", "set CRYPTOPAY_SMTP_ADDR")
	}
	return pass(fmt.Sprintf("incidents and critical alerts are mailed to %d contact(s) through %s", len(c.EmergencyContacts), c.SMTP.Addr))
}
