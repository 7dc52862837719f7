package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cryptopay/cryptopay"
)

// maxJSONDepth bounds nesting so a hostile body cannot exhaust the stack or
// the CPU; no request of this API nests deeper than 4.
const maxJSONDepth = 8

// readBody reads the whole request body up to the server's limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, cryptopay.Errorf(cryptopay.CodeTooLarge, "The request body exceeds %d bytes.", s.maxBody)
	}
	if err != nil {
		return nil, cryptopay.Errorf(cryptopay.CodeInvalid, "The request body could not be read.")
	}
	return body, nil
}

// decodeJSON decodes body strictly into v: one JSON object, no unknown
// fields, no trailing data, bounded nesting. Errors name the field.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return cryptopay.Invalid("", "The request body must be a JSON object.")
	}
	if err := checkDepth(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return cryptopay.Invalid("", "The request body must hold exactly one JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			return cryptopay.Invalid("", "The request body must be a JSON object.")
		}
		return cryptopay.Invalid(field, "%s must be %s, not %s.", field, jsonTypeName(te.Type.String()), te.Value)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return cryptopay.Invalid("", "The request body is not valid JSON (at byte %d).", se.Offset)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return cryptopay.Invalid(field, "Unknown field %q.", field)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return cryptopay.Invalid("", "The request body is truncated JSON.")
	}
	return cryptopay.Invalid("", "The request body is not a valid JSON object.")
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.Contains(goType, "int"), goType == "json.Number":
		return "an integer"
	case goType == "bool":
		return "a boolean"
	}
	return "of a different type"
}

// checkDepth rejects JSON nested deeper than maxJSONDepth without decoding
// it. Brackets inside strings are skipped.
func checkDepth(body []byte) error {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return cryptopay.Invalid("", "The request body nests deeper than %d levels.", maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// writeJSON writes v with status. API responses are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"api_error","code":"internal_error","message":"An internal error occurred."}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// intParam parses an optional positive integer query parameter; 0 means
// absent. An explicit 0 is refused rather than read as "absent", so
// limit=0 is an error instead of silently becoming the default.
func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || fmt.Sprint(n) != v || n < 1 {
		return 0, cryptopay.Invalid(name, "%s must be a positive integer.", name)
	}
	return n, nil
}
