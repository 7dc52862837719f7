package webhooksig

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// errReader fails every read, like a client that drops the connection.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReadAndVerify(t *testing.T) {
	now := time.Now()
	fresh := SignHeader(testPayload, now, testSecret)
	tests := []struct {
		name     string
		body     io.Reader
		unsized  bool // hide Content-Length, as with a chunked upload
		headers  map[string][]string
		secret   string
		maxBytes int64
		wantErr  error // nil means accepted
	}{
		{name: "valid", headers: map[string][]string{HeaderSignature: {fresh}}},
		{name: "valid, default limit", headers: map[string][]string{HeaderSignature: {fresh}}, maxBytes: -1},
		{name: "valid, body exactly at the limit", headers: map[string][]string{HeaderSignature: {fresh}}, maxBytes: int64(len(testPayload))},
		{name: "valid, unsized body exactly at the limit", unsized: true, headers: map[string][]string{HeaderSignature: {fresh}}, maxBytes: int64(len(testPayload))},
		{name: "header name in another case", headers: map[string][]string{"cryptopay-signature": {fresh}}},
		{name: "missing header", headers: nil, wantErr: ErrNoHeader},
		{name: "empty header", headers: map[string][]string{HeaderSignature: {""}}, wantErr: ErrNoHeader},
		{name: "legacy header alone is not enough", headers: map[string][]string{HeaderLegacySignature: {Sign(testPayload, testSecret)}}, wantErr: ErrNoHeader},
		{name: "two header lines with two t", headers: map[string][]string{HeaderSignature: {fresh, SignHeader(testPayload, now.Add(-time.Hour), testSecret)}}, wantErr: ErrBadFormat},
		{name: "tampered body", body: strings.NewReader(strings.Replace(string(testPayload), "100.00", "900.00", 1)), headers: map[string][]string{HeaderSignature: {fresh}}, wantErr: ErrNoMatch},
		{name: "wrong secret", headers: map[string][]string{HeaderSignature: {fresh}}, secret: oldSecret, wantErr: ErrNoMatch},
		{name: "empty secret", headers: map[string][]string{HeaderSignature: {fresh}}, secret: "-", wantErr: ErrEmptySecret},
		{name: "replayed an hour later", headers: map[string][]string{HeaderSignature: {SignHeader(testPayload, now.Add(-time.Hour), testSecret)}}, wantErr: ErrTooOld},
		{name: "body one byte over the limit", headers: map[string][]string{HeaderSignature: {fresh}}, maxBytes: int64(len(testPayload)) - 1, wantErr: ErrBodyTooLarge},
		{name: "unsized body one byte over the limit", unsized: true, headers: map[string][]string{HeaderSignature: {fresh}}, maxBytes: int64(len(testPayload)) - 1, wantErr: ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if body == nil {
				body = bytes.NewReader(testPayload)
			}
			if tc.unsized {
				body = io.MultiReader(body) // hides the length from NewRequest
			}
			r := httptest.NewRequest(http.MethodPost, "/webhooks/cryptopay", body)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			secret := tc.secret
			switch secret {
			case "":
				secret = testSecret
			case "-":
				secret = ""
			}
			maxBytes := tc.maxBytes
			if maxBytes == 0 {
				maxBytes = 64 << 10
			}
			got, err := ReadAndVerify(r, secret, maxBytes)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ReadAndVerify = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !bytes.Equal(got, testPayload) {
				t.Fatalf("body = %q, want %q", got, testPayload)
			}
			if err != nil && got != nil {
				t.Fatalf("body returned with error %v", err)
			}
		})
	}
}

func TestReadAndVerifyReadError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", errReader{})
	r.Header.Set(HeaderSignature, SignHeader(testPayload, time.Now(), testSecret))
	_, err := ReadAndVerify(r, testSecret, 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want the body's read error", err)
	}
}

// TestOverTheWire sends a signed POST through a real HTTP server, so header
// canonicalisation and body handling are those a merchant's server sees.
func TestOverTheWire(t *testing.T) {
	received := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadAndVerify(r, testSecret, 0)
		if err == nil && !bytes.Equal(body, testPayload) {
			err = errors.New("body changed in transit")
		}
		if err == nil && r.Header.Get(HeaderEventID) != "evt_01" {
			err = errors.New("event id header lost")
		}
		if err == nil && VerifyLegacy(body, r.Header.Get(HeaderLegacySignature), testSecret) != nil {
			err = errors.New("legacy signature does not verify")
		}
		received <- err
	}))
	defer srv.Close()

	req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(testPayload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignature, SignHeader(testPayload, time.Now(), oldSecret, testSecret))
	req.Header.Set(HeaderLegacySignature, Sign(testPayload, testSecret))
	req.Header.Set(HeaderEventID, "evt_01")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-received; err != nil {
		t.Fatalf("receiver: %v", err)
	}
}
