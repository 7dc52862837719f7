package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadMonitor(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		check   func(c *Config) bool
		wantErr string
	}{
		{"defaults are the guide's", nil, func(c *Config) bool {
			m := c.Monitor
			return m.FailureLimit == 5 && m.FailureWindow == 24*time.Hour && m.HighValue == "10000.00" && m.AddressInvoices == 10 && m.InvoicePayments == 5
		}, ""},
		{"custom values", map[string]string{"CRYPTOPAY_BLOCK_AFTER_FAILURES": "2", "CRYPTOPAY_FAILURE_WINDOW": "1h", "CRYPTOPAY_ALERT_HIGH_VALUE": "500.5"},
			func(c *Config) bool {
				return c.Monitor.FailureLimit == 2 && c.Monitor.FailureWindow == time.Hour && c.Monitor.HighValue == "500.5"
			}, ""},
		{"off disables", map[string]string{"CRYPTOPAY_BLOCK_AFTER_FAILURES": "off", "CRYPTOPAY_ALERT_HIGH_VALUE": "off"},
			func(c *Config) bool { return c.Monitor.FailureLimit < 0 && c.Monitor.HighValue == "off" }, ""},
		{"zero failures refused", map[string]string{"CRYPTOPAY_BLOCK_AFTER_FAILURES": "0"}, nil, "CRYPTOPAY_BLOCK_AFTER_FAILURES"},
		{"negative window refused", map[string]string{"CRYPTOPAY_FAILURE_WINDOW": "-1h"}, nil, "CRYPTOPAY_FAILURE_WINDOW"},
		{"float-looking threshold refused", map[string]string{"CRYPTOPAY_ALERT_HIGH_VALUE": "1e4"}, nil, "CRYPTOPAY_ALERT_HIGH_VALUE"},
		{"non-number limit refused", map[string]string{"CRYPTOPAY_ALERT_INVOICE_PAYMENTS": "five"}, nil, "CRYPTOPAY_ALERT_INVOICE_PAYMENTS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("Load = %+v, %v", c.Monitor, err)
			}
		})
	}
}
