package password

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheap keeps the tests fast; Default is checked separately for shape.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h := Hash("correct horse battery staple", cheap)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string with the given parameters", h)
	}
	if h2 := Hash("correct horse battery staple", cheap); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	cases := []struct {
		name string
		pw   string
		want bool
	}{
		{"same password", "correct horse battery staple", true},
		{"one letter off", "correct horse battery stapla", false},
		{"case differs", "Correct horse battery staple", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.pw, h)
			if err != nil || ok != tc.want {
				t.Errorf("Verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}

// TestKnownAnswer checks Verify against a hash computed independently
// from RFC 9106's definition through x/crypto directly, so a mistake in
// this package's encoding or parameter order shows.
func TestKnownAnswer(t *testing.T) {
	salt, _ := hex.DecodeString("0102030405060708090a0b0c0d0e0f10")
	key := argon2.IDKey([]byte("password"), salt, 2, 256, 2, 32)
	b64 := base64.RawStdEncoding
	stored := "$argon2id$v=19$m=256,t=2,p=2$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key)
	if ok, err := Verify("password", stored); !ok || err != nil {
		t.Fatalf("Verify(known answer) = %v, %v", ok, err)
	}
	if !NeedsRehash(stored, cheap) || NeedsRehash(stored, Params{Memory: 256, Time: 2, Threads: 2}) {
		t.Error("NeedsRehash does not compare the stored parameters")
	}
}

func TestMalformed(t *testing.T) {
	good := Hash("x", cheap)
	parts := strings.Split(good, "$")
	cases := map[string]string{
		"empty":              "",
		"bcrypt":             "$2b$12$abcdefghijklmnopqrstuu",
		"argon2i":            strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":        strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":        strings.Replace(good, "m=64,", "m=99999999,", 1),
		"zero time":          strings.Replace(good, "t=1,", "t=0,", 1),
		"padded salt":        strings.Join(append(parts[:4:4], parts[4]+"=", parts[5]), "$"),
		"extra field":        good + "$x",
		"params reordered":   strings.Replace(good, "m=64,t=1,p=1", "t=1,m=64,p=1", 1),
		"params with spaces": strings.Replace(good, "m=64,t=1,p=1", "m=64, t=1, p=1", 1),
		"short key":          strings.Join(append(parts[:5:5], "AAAA"), "$"),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if ok, err := Verify("x", s); ok || err != ErrMalformed {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", s, ok, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name, pw string
		ok       bool
	}{
		{"long enough", "twelve chars", true},
		{"too short", "elevenchars", false},
		{"too long", strings.Repeat("a", MaxLength+1), false},
		{"the email", "Owner@Example.com", false},
		{"multibyte counts characters", strings.Repeat("é", 12), true},
		{"invalid utf-8", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := Check(tc.pw, "owner@example.com"); (err == nil) != tc.ok {
				t.Errorf("Check = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("pw", Hash("pw", cheap))
	f.Add("pw", "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, pw, stored string) {
		ok, err := Verify(pw, stored)
		if err != nil && ok {
			t.Fatal("Verify returned true with an error")
		}
	})
}
