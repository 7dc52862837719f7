package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
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

// orList joins words as prose: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
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
	return args[0], parse(fs, args[1:])
}
