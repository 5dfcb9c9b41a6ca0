package config

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
)

// LookupEnv reads the environment: os.LookupEnv in production, a map in
// tests. ok reports whether the variable is set (possibly to "").
type LookupEnv func(name string) (value string, ok bool)

// MapEnv is an environment held in a map (tests).
func MapEnv(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// EnvName is the environment variable of a flag: LATCHKEY_ and the flag's
// name in upper case with dashes as underscores (--tls-cert ↔
// LATCHKEY_TLS_CERT).
func EnvName(flagName string) string {
	return "LATCHKEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// secretFlags are the flags whose value is a credential (a URL with a
// password, a token): their variable also has a *_FILE form naming a file
// that holds the value, so that it need not sit in the environment.
var secretFlags = map[string]bool{
	"database-url": true,
	"redis-url":    true,
	"smtp-url":     true,
	"token":        true,
}

// IsSecret reports whether a flag takes a credential (and so also reads
// LATCHKEY_<NAME>_FILE).
func IsSecret(flagName string) bool { return secretFlags[flagName] }

// DocumentEnv appends each flag's environment variable to its usage text,
// so that -h lists them. Call it once every flag is defined. With names,
// only those flags (a command whose other flags are not configuration).
func DocumentEnv(fs *flag.FlagSet, names ...string) {
	fs.VisitAll(func(f *flag.Flag) {
		if !selected(names, f.Name) {
			return
		}
		name := EnvName(f.Name)
		if IsSecret(f.Name) {
			name += " or " + name + "_FILE"
		}
		f.Usage += " [$" + name + "]"
	})
}

// ApplyEnv sets every flag of fs that the command line left unset from its
// environment variable (EnvName), or for a secret flag from the file that
// LATCHKEY_<NAME>_FILE names. It is the one way flags get their
// variables: flags beat the environment, which beats the defaults. An
// invalid value is an error naming the variable. A variable set to ""
// empties a string flag (LATCHKEY_OPS_ADDR= switches the ops listener
// off) and counts as unset for the others (LATCHKEY_DEV= is not an
// error). With names, only those flags.
func ApplyEnv(fs *flag.FlagSet, getenv LookupEnv, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || !selected(names, f.Name) {
			return
		}
		name := EnvName(f.Name)
		v, set := getenv(name)
		if v == "" && IsSecret(f.Name) {
			if p, _ := getenv(name + "_FILE"); p != "" {
				b, rerr := os.ReadFile(p)
				if rerr != nil {
					err = fmt.Errorf("%s_FILE: %w", name, rerr)
					return
				}
				v, name = strings.TrimSpace(string(b)), name+"_FILE"
				if v == "" {
					err = fmt.Errorf("%s: the file %s is empty", name, p)
					return
				}
			}
		}
		if v == "" && (!set || !isString(f)) {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("%s: %w", name, serr)
		}
	})
	return err
}

func selected(names []string, name string) bool {
	return len(names) == 0 || slices.Contains(names, name)
}

// isString reports whether a flag holds a plain string.
func isString(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(string)
	return ok
}
