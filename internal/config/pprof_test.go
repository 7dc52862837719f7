package config

import "testing"

func TestPprofListen(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"unset serves nothing", "", true},
		{"loopback v4", "127.0.0.1:6060", true},
		{"loopback v6", "[::1]:6060", true},
		{"localhost", "localhost:6060", true},
		{"private", "10.1.2.3:6060", true},
		{"every interface", ":6060", false},
		{"unspecified", "0.0.0.0:6060", false},
		{"public", "203.0.113.9:6060", false},
		{"host name", "example.com:6060", false},
		{"no port", "127.0.0.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadPprof(func(k string) string {
				if k == "CRYPTOPAY_PPROF_LISTEN" {
					return tc.value
				}
				return ""
			})
			if (err == nil) != tc.ok {
				t.Fatalf("loadPprof(%q) = %q, %v; want ok %v", tc.value, got, err, tc.ok)
			}
			if tc.ok && got != tc.value {
				t.Errorf("loadPprof(%q) = %q", tc.value, got)
			}
		})
	}
}
