package rates

import (
	"context"
	"errors"
	"net"
	"strings"
)

// publicError says what went wrong with a provider in fixed words that
// may be shown to API clients and in 503 messages: the full error, which
// can name a proxy's address, goes only to the log.
func publicError(err error) string {
	var rl *RateLimitedError
	var ne net.Error
	msg := err.Error()
	switch {
	case errors.As(err, &rl):
		return rl.Error()
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timed out"
	case strings.HasPrefix(msg, "HTTP "):
		return msg
	case strings.Contains(msg, "HTML page"):
		return "sent an HTML page instead of JSON"
	case strings.Contains(msg, "malformed or truncated JSON") || strings.HasPrefix(msg, "decode:"):
		return "sent malformed or truncated JSON"
	case strings.Contains(msg, "larger than"):
		return "sent a response too large"
	case errors.As(err, &ne) || strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host"):
		return "unreachable"
	case strings.Contains(msg, "no prices"):
		return "priced none of the pairs asked"
	}
	return "sent an unusable response"
}
