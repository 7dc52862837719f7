// Package strictjson decodes the JSON bodies the gateway accepts from
// outside (the API, the sandbox's control endpoint) strictly, so the
// gateway never reads a request differently from a shop, a proxy or an
// auditor that checks the same bytes.
//
// Decode refuses what a lenient parser would quietly accept: names that
// match a field only case-insensitively, duplicate names (where "last one
// wins" lets two readers see two prices), unknown names, invalid UTF-8
// (which would otherwise be replaced by U+FFFD), null, a value of another
// type than the field declares (a number in a string, a string holding a
// number), nesting deeper than MaxDepth and anything after the object. The
// work is done by github.com/go-json-experiment/json (the form of Go's
// encoding/json/v2 outside the standard library); this package only sets
// its options and turns its errors into *cryptopay.Error values that name
// the offending field.
//
// CheckContentType holds the other half of the contract: a body is taken
// only when it is declared as application/json.
//
// It is not a validator of values: ranges, formats and lengths are the
// gateway's rules, checked after decoding.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/cryptopay/cryptopay"
)

// MaxDepth bounds nesting so a hostile body cannot exhaust the stack or the
// CPU; no request body of the API nests deeper than 3.
const MaxDepth = 8

// options are the strict settings. Most are the library's defaults,
// spelled out so a change of defaults cannot loosen the API.
var options = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// Decode decodes body, which must hold exactly one JSON object, into v (a
// pointer to a struct whose fields carry json tags). Every error is a
// CodeInvalid *cryptopay.Error whose Param names the offending field in the
// API's notation ("amount", "metadata[note]", "allowed_ips[0]"), or is
// empty when the body as a whole is at fault. v may be partly written when
// an error is returned.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return cryptopay.Invalid("", "The request body must be a JSON object.")
	}
	if err := scan(body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v, options); err != nil {
		return semanticError(err)
	}
	return nil
}

// scan reads body token by token before it is decoded: the syntax (with
// the duplicate-name and UTF-8 checks), the shape (one object, nothing
// after it), the depth and the nulls. Decoding then only has to match
// names and types.
func scan(body []byte) error {
	sc := scanners.Get().(*scanner)
	defer sc.put()
	sc.rd.Reset(body)
	sc.dec.Reset(&sc.rd, options)
	dec := &sc.dec
	if k := dec.PeekKind(); k != '{' && k != 0 {
		return cryptopay.Invalid("", "The request body must be a JSON object.")
	}
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(body, err)
		}
		switch tok.Kind() {
		case 'n':
			p := param(dec.StackPointer())
			return cryptopay.Invalid(p, "%s must not be null; leave the field out instead.", p)
		case '{', '[':
			if dec.StackDepth() > MaxDepth {
				return cryptopay.Invalid("", "The request body nests deeper than %d levels.", MaxDepth)
			}
		}
		if dec.StackDepth() == 0 {
			break
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return cryptopay.Invalid("", "The request body must hold exactly one JSON object and nothing after it.")
	}
	return nil
}

// scanner is a token decoder with its reader, kept between requests: a
// decoder's buffers and name sets are most of what a scan would allocate.
type scanner struct {
	rd  bytes.Reader
	dec jsontext.Decoder
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// put returns sc to the pool without a reference to the body it read
// (the decoder is reset onto an empty reader). A decoder whose buffer
// grew past maxPooledBuffer, for a large body, is dropped instead.
func (sc *scanner) put() {
	sc.rd.Reset(nil)
	sc.dec.Reset(&sc.rd, options)
	if cap(sc.dec.UnreadBuffer()) > maxPooledBuffer {
		return
	}
	scanners.Put(sc)
}

// maxPooledBuffer bounds the read buffer a pooled scanner keeps.
const maxPooledBuffer = 64 << 10

// syntaxError describes an error of the token scan.
func syntaxError(body []byte, err error) error {
	serr, ok := errors.AsType[*jsontext.SyntacticError](err)
	switch {
	case ok && errors.Is(err, jsontext.ErrDuplicateName):
		p := param(serr.JSONPointer)
		return cryptopay.Invalid(p, "The field %s appears more than once.", p)
	case !utf8.Valid(body):
		p := ""
		if ok {
			p = param(serr.JSONPointer)
		}
		return cryptopay.Invalid(p, "The request body must be valid UTF-8.")
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return cryptopay.Invalid("", "The request body is truncated JSON.")
	case ok:
		return cryptopay.Invalid(param(serr.JSONPointer), "The request body is not valid JSON (at byte %d).", serr.ByteOffset)
	}
	return cryptopay.Invalid("", "The request body is not valid JSON.")
}

// semanticError describes an error of decoding into the Go value: an
// unknown name or a value of the wrong type.
func semanticError(err error) error {
	serr, ok := errors.AsType[*json.SemanticError](err)
	if !ok {
		// The scan accepted the syntax, so decoding fails only on meaning.
		return cryptopay.Invalid("", "The request body is not a valid JSON object for this request.")
	}
	p := param(serr.JSONPointer)
	switch {
	case errors.Is(serr.Err, json.ErrUnknownName):
		return cryptopay.Invalid(p, "Unknown field %q; field names are case-sensitive.", p)
	case p == "":
		return cryptopay.Invalid("", "The request body must be a JSON object.")
	case serr.GoType != nil:
		return cryptopay.Invalid(p, "%s must be %s.", p, typeName(serr.GoType))
	}
	return cryptopay.Invalid(p, "%s has an invalid value.", p)
}

// CheckContentType accepts the Content-Type of a request that has a body
// when it is application/json, optionally with charset=utf-8 (the only
// encoding JSON has), and returns a CodeUnsupportedMediaType
// *cryptopay.Error naming the header otherwise: a body sent as a form or
// as text is refused rather than read as JSON regardless.
func CheckContentType(ct string) error {
	if ct == "application/json" {
		return nil // what nearly every client sends; ParseMediaType would accept it
	}
	refuse := &cryptopay.Error{Code: cryptopay.CodeUnsupportedMediaType, Param: "Content-Type",
		Message: "A request body must be JSON sent with Content-Type: application/json."}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return refuse
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return refuse
		}
	}
	return nil
}

// typeName names the JSON a Go field accepts, for messages.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number (a JSON number, not a string)"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "a JSON object"
	}
	return fmt.Sprintf("of another type (%s)", t.Kind())
}

// param renders a JSON Pointer in the API's notation: "/metadata/note" is
// "metadata[note]", "/allowed_ips/0" is "allowed_ips[0]".
func param(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() == 0 {
			b.WriteString(tok)
		} else {
			b.WriteString("[" + tok + "]")
		}
	}
	return b.String()
}
