package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cryptopay/cryptopay/internal/gateway"
	"github.com/cryptopay/cryptopay/internal/storage"
)

// runUsers manages the people who sign in to the dashboard. Passwords are
// read from a file (or /dev/stdin), never from a flag: a flag ends up in
// the shell's history and in the process list.
func runUsers(ctx context.Context, env Env, args []string) error {
	return subcommands{name: "users", verbs: []verb{
		{"create", usersCreate}, {"list", usersList}, {"grant", usersGrant}, {"reset-totp", usersResetTOTP},
		{"set-password", usersSetPassword}, {"unlock", usersUnlock}, {"disable", usersDisable},
	}}.run(ctx, env, args)
}

// readPassword reads the first line of path ("-" or /dev/stdin for
// standard input).
func readPassword(path string) (string, error) {
	if path == "" {
		return "", usageError{"--password-file is required (a file holding the password, or - for standard input)"}
	}
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("--password-file: no password in %s", path)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func usersCreate(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "users create")
	email := fs.String("email", "", "the user's email address, the sign-in name (required)")
	pwFile := fs.String("password-file", "", "file whose first line is the password (- reads standard input); at least 12 characters")
	operator := fs.Bool("operator", false, "an operator: sees every store as owner")
	stores := fs.String("store", "", "comma-separated store ids a staff user may see")
	role := fs.String("role", "viewer", "the staff user's role in those stores: viewer, staff or owner")
	noTOTP := fs.Bool("no-totp", false, "no second factor (refused for operators and live stores)")
	if err := parse(fs, args); err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	r, err := gateway.ParseRole("--role", *role)
	if err != nil {
		return err
	}
	var grants []storage.DashboardGrant
	for _, id := range splitList(*stores) {
		grants = append(grants, storage.DashboardGrant{StoreID: id, Role: r})
	}
	return withApp(ctx, env, true, func(a *app) error {
		cu, err := a.svc.CreateUser(ctx, gateway.UserParams{Email: *email, Password: pw, Operator: *operator, Grants: grants, WithoutTOTP: *noTOTP})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "id:    %s\nemail: %s\n", cu.User.ID, cu.User.Email)
		printTOTP(env, cu)
		fmt.Fprintln(env.Stdout, "Sign in at /dashboard/ on this gateway.")
		return nil
	})
}

func printTOTP(env Env, cu *gateway.CreatedUser) {
	if cu.TOTPSecret == "" {
		fmt.Fprintln(env.Stdout, "second factor: none (this user cannot see live stores)")
		return
	}
	fmt.Fprintf(env.Stdout, "\nSecond factor, shown once: add it to an authenticator app now.\n  secret: %s\n  url:    %s\n\n", cu.TOTPSecret, cu.TOTPURL)
}

func usersList(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "users list")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		us, err := a.svc.ListUsers(ctx)
		if err != nil {
			return err
		}
		now := a.svc.Now()
		for _, u := range us {
			var access []string
			if u.Operator {
				access = []string{"operator"}
			}
			for _, g := range u.Grants {
				access = append(access, g.StoreID+":"+string(g.Role))
			}
			state := "active"
			switch {
			case u.DisabledAt != nil:
				state = "disabled"
			case u.LockedUntil != nil && now.Before(*u.LockedUntil):
				state = "locked until " + u.LockedUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(env.Stdout, "%s  %-32s  totp:%-3v  %-24s  %s\n", u.ID, u.Email, u.TOTPSecret != nil, state, strings.Join(access, ","))
		}
		return nil
	})
}

func usersGrant(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "users grant")
	email := fs.String("email", "", "the user (required)")
	store := fs.String("store", "", "the store id (required)")
	role := fs.String("role", "viewer", "viewer, staff or owner")
	if err := parse(fs, args); err != nil {
		return err
	}
	r, err := gateway.ParseRole("--role", *role)
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		u, err := a.svc.GrantUser(ctx, *email, *store, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s is now %s of %s; their sessions were ended\n", u.Email, r, *store)
		return nil
	})
}

// userChange runs one of the service's user changes that take only an
// email.
func userChange(name, done string, fn func(a *app, ctx context.Context, email string) (*storage.DashboardUser, error)) func(ctx context.Context, env Env, args []string) error {
	return func(ctx context.Context, env Env, args []string) error {
		fs := flags(env, "users "+name)
		email := fs.String("email", "", "the user (required)")
		if err := parse(fs, args); err != nil {
			return err
		}
		return withApp(ctx, env, true, func(a *app) error {
			u, err := fn(a, ctx, *email)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s %s; their sessions were ended\n", u.Email, done)
			return nil
		})
	}
}

var (
	usersUnlock = userChange("unlock", "unlocked", func(a *app, ctx context.Context, e string) (*storage.DashboardUser, error) {
		return a.svc.UnlockUser(ctx, e)
	})
	usersDisable = userChange("disable", "disabled", func(a *app, ctx context.Context, e string) (*storage.DashboardUser, error) {
		return a.svc.DisableUser(ctx, e)
	})
)

func usersResetTOTP(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "users reset-totp")
	email := fs.String("email", "", "the user (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		cu, err := a.svc.ResetUserTOTP(ctx, *email)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s has a new second factor; the old one no longer works\n", cu.User.Email)
		printTOTP(env, cu)
		return nil
	})
}

func usersSetPassword(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "users set-password")
	email := fs.String("email", "", "the user (required)")
	pwFile := fs.String("password-file", "", "file whose first line is the new password (- reads standard input)")
	if err := parse(fs, args); err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	return withApp(ctx, env, true, func(a *app) error {
		u, err := a.svc.SetUserPassword(ctx, *email, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s has a new password and is unlocked; their sessions were ended\n", u.Email)
		return nil
	})
}
