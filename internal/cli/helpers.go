package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cryptopay/cryptopay/internal/config"
)

// The helpers here hold the shape every operator subcommand shares, so
// that each command's file says only what is its own: its flags, its
// checks and what it prints. Their messages are part of the CLI's
// interface (scripts and tests match on them); change them with care.

// verb is one subcommand of a command that has several.
type verb struct {
	name string
	run  func(ctx context.Context, env Env, args []string) error
}

// subcommands is a command made of verbs, such as `keys create|list`.
type subcommands struct {
	name  string
	verbs []verb
	// usageOnUnknown makes an unknown verb's error end with the full usage
	// line instead of "want a, b or c".
	usageOnUnknown bool
}

// usage is "want: <name> a|b|c", the verbs in their order.
func (s subcommands) usage() string {
	return "want: " + s.name + " " + strings.Join(s.names(), "|")
}

func (s subcommands) names() []string {
	names := make([]string, len(s.verbs))
	for i, v := range s.verbs {
		names[i] = v.name
	}
	return names
}

// run runs the verb args[0] names with the rest of args. Without a verb it
// returns usageError{usage()}; with an unknown one, the usage error
// `unknown <name> command "x"; want a, b or c`.
func (s subcommands) run(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		return usageError{s.usage()}
	}
	if isHelp(args[0]) {
		s.help(env.Stdout)
		return flag.ErrHelp
	}
	for _, v := range s.verbs {
		if v.name == args[0] {
			return v.run(ctx, env, args[1:])
		}
	}
	hint := s.usage()
	if !s.usageOnUnknown {
		hint = "want " + orList(s.names())
	}
	return usageError{fmt.Sprintf("unknown %s command %q; %s", s.name, args[0], hint)}
}

// help prints the group's usage and its verbs: what `cryptopay <group>
// --help` and `cryptopay help <group>` show. It reads no configuration.
func (s subcommands) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: cryptopay %s <command> [flags]\n\nCommands:\n", s.name)
	for _, v := range s.verbs {
		fmt.Fprintf(w, "  %s\n", v.name)
	}
	fmt.Fprintf(w, "\nRun `cryptopay %s <command> --help` for a command's flags.\n", s.name)
}

// isHelp reports whether arg asks for help rather than naming a verb or id.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// orList joins words as prose: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// errNoDatabase is what a command that needs the database says when the
// SQLite file it would open does not exist: opening it would create an
// empty database (and its folder) by accident.
var errNoDatabase = errors.New("no database")

// noDatabase is errNoDatabase for path, with what to do about it.
func noDatabase(path string) error {
	return fmt.Errorf("%w at %s; run `cryptopay migrate` or set CRYPTOPAY_DATABASE_URL", errNoDatabase, path)
}

// requireDatabase refuses a SQLite database file that does not exist yet,
// so that a command reading or changing data never creates one (or an
// empty data folder) on a typo in CRYPTOPAY_DATA_DIR. PostgreSQL creates
// nothing on connect and is left to its own error.
func requireDatabase(cfg *config.Config) error {
	if cfg.IsPostgres() || strings.Contains(cfg.DatabaseURL, "://") {
		return nil
	}
	if _, err := os.Stat(cfg.DatabaseURL); errors.Is(err, os.ErrNotExist) {
		return noDatabase(cfg.DatabaseURL)
	}
	return nil
}

// withApp opens the app, runs fn on it and closes it. With checkSchema the
// schema must be current. An error from opening is returned as it is, and
// fn is then not run.
func withApp(ctx context.Context, env Env, checkSchema bool, fn func(a *app) error) error {
	a, err := open(ctx, env, checkSchema)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// idAndFlags parses "<id> [flags]": the first argument is the id, the rest
// are fs's flags. Without any argument it returns usageError{usage}; flag
// errors are parse's.
func idAndFlags(fs *flag.FlagSet, args []string, usage string) (string, error) {
	if len(args) == 0 {
		return "", usageError{usage}
	}
	if isHelp(args[0]) {
		fmt.Fprintln(fs.Output(), "Usage: cryptopay "+strings.TrimPrefix(usage, "want: ")+"\n\nFlags:")
		fs.PrintDefaults()
		return "", flag.ErrHelp
	}
	return args[0], parse(fs, args[1:])
}
