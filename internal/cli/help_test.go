package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helpEnv is an operator environment whose data folder does not exist, so
// a test can tell whether a command touched the disk.
func helpEnv(t *testing.T) (*secEnv, string) {
	dataDir := filepath.Join(t.TempDir(), "nothing-here")
	return &secEnv{t: t, vars: map[string]string{"CRYPTOPAY_DATA_DIR": dataDir}}, dataDir
}

// listedCommands reads the subcommands a group's help lists: the indented
// lines after "Commands:" up to the first blank line.
func listedCommands(help string) []string {
	_, after, ok := strings.Cut(help, "Commands:\n")
	if !ok {
		return nil
	}
	var out []string
	for line := range strings.Lines(after) {
		line = strings.TrimRight(line, "\n")
		if strings.TrimSpace(line) == "" {
			break
		}
		out = append(out, strings.Fields(line)[0])
	}
	return out
}

// TestHelpForEveryCommand: `cryptopay <group> --help`, `cryptopay help
// <group>` and `cryptopay <group> <verb> --help` answer on standard output
// with exit 0 for every command and verb the usage lists, print no error,
// and never create the data folder.
func TestHelpForEveryCommand(t *testing.T) {
	groups := map[string][]string{ // groups whose verbs the help must list
		"stores": {"create", "list", "show"}, "keys": {"create", "list", "rotate", "revoke"},
		"webhooks": {"list", "create", "deliveries", "redeliver", "test"}, "audit": {"verify", "list"},
		"encryption": {"keygen", "rotate"}, "addresses": {"blocked", "block", "unblock", "release"},
		"invoices": {"list", "show", "redact"},
	}
	e, dataDir := helpEnv(t)
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			for _, form := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
				code, out, errs := e.run(form...)
				if code != 0 || errs != "" || !strings.Contains(out, "cryptopay "+c.name) {
					t.Fatalf("cryptopay %s: exit %d, stdout %q, stderr %q", strings.Join(form, " "), code, out, errs)
				}
				verbs := listedCommands(out)
				for _, want := range groups[c.name] {
					if !strings.Contains(" "+strings.Join(verbs, " ")+" ", " "+want+" ") {
						t.Errorf("cryptopay %s lists %q, missing %q", strings.Join(form, " "), verbs, want)
					}
				}
				if form[0] != c.name {
					continue
				}
				for _, v := range verbs {
					code, out, errs := e.run(c.name, v, "--help")
					if code != 0 || errs != "" || !strings.Contains(out, "cryptopay "+c.name+" "+v) {
						t.Errorf("cryptopay %s %s --help: exit %d, stdout %q, stderr %q", c.name, v, code, out, errs)
					}
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Fatalf("help touched the disk: %s exists (%v)", dataDir, err)
			}
		})
	}
	if code, _, errs := e.run("help", "nosuch"); code != 2 || !strings.Contains(errs, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, stderr %q", code, errs)
	}
}

// TestErrorsArePrintedOnce: a mistyped flag is reported in one line that
// says where the help is, not once by the flag package and again by Run.
func TestErrorsArePrintedOnce(t *testing.T) {
	e, _ := helpEnv(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag of a verb", []string{"stores", "create", "--nmae", "x"}, "flag provided but not defined: -nmae"},
		{"bad flag value", []string{"keys", "create", "--expires-in", "soon"}, `invalid value "soon" for flag -expires-in`},
		{"unknown flag of a command", []string{"serve", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown flag of a dev driver", []string{"dev", "mine", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown verb", []string{"stores", "destroy"}, `unknown stores command "destroy"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := e.run(tc.args...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d, stdout %q", code, out)
			}
			if n := strings.Count(errs, tc.want); n != 1 || strings.Count(errs, "\n") != 1 {
				t.Fatalf("stderr has %q %d times in %d lines:\n%s", tc.want, n, strings.Count(errs, "\n"), errs)
			}
		})
	}
}

// TestCommandsNeedingADatabaseNeverCreateOne: with no database file, every
// command that reads or changes data says what to do and leaves no file or
// folder behind; migrate creates it, and then they work.
func TestCommandsNeedingADatabaseNeverCreateOne(t *testing.T) {
	e, dataDir := helpEnv(t)
	db := filepath.Join(dataDir, "cryptopay.db")
	want := "no database at " + db + "; run `cryptopay migrate` or set CRYPTOPAY_DATABASE_URL"
	cases := []struct {
		name string
		args []string
	}{
		{"stores list", []string{"stores", "list"}},
		{"stores create", []string{"stores", "create", "--name", "x"}},
		{"keys list", []string{"keys", "list", "--store", "sto_x"}},
		{"invoices list", []string{"invoices", "list", "--store", "sto_x"}},
		{"webhooks list", []string{"webhooks", "list", "--store", "sto_x"}},
		{"audit verify", []string{"audit", "verify"}},
		{"addresses blocked", []string{"addresses", "blocked"}},
		{"backup", []string{"backup"}},
		{"doctor", []string{"doctor"}},
		{"serve without --migrate", []string{"serve"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := e.run(tc.args...)
			if code != 1 || out != "" || strings.Count(errs, want) != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want one %q", code, out, errs, want)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Fatalf("%s exists after the refusal (%v)", dataDir, err)
			}
		})
	}
	e.must("migrate")
	if out := e.must("stores", "list"); out != "" {
		t.Errorf("stores list on a new database: %q", out)
	}
}

// TestKeysCreatePrintsTheExportLine: the operator can paste the new key
// into a shell as the sandbox's banner lets them.
func TestKeysCreatePrintsTheExportLine(t *testing.T) {
	e, _ := helpEnv(t)
	e.must("migrate")
	store := field(t, e.must("stores", "create", "--name", "shop", "--account-key", regtestAccountKey(t)), "id")
	out := e.must("keys", "create", "--store", store)
	secret := field(t, out, "secret")
	m := regexp.MustCompile(`(?m)^export CRYPTOPAY_API_KEY=(\S+)$`).FindStringSubmatch(out)
	if m == nil || m[1] != secret || !strings.HasPrefix(secret, "cp_test_") {
		t.Fatalf("no export line for secret %q in:\n%s", secret, out)
	}
}

func TestShellQuote(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain path", "/home/me/cryptopay-dev", "/home/me/cryptopay-dev"},
		{"space", "/home/me/my shop", "'/home/me/my shop'"},
		{"single quote", "/tmp/it's", `'/tmp/it'\''s'`},
		{"dollar", "/tmp/$HOME", "'/tmp/$HOME'"},
		{"empty", "", "''"},
	}
	for _, tc := range cases {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("%s: shellQuote(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
