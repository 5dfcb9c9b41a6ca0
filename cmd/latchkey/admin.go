package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/server"
)

// The admin commands (client, connection, settings, users, logs) are all
// Management API v2 calls: over HTTP to --server with --token, or, without
// --server, to the same API built in process over the store that serve
// uses (see server.LocalManagement).

// verb is one action of a command group (client create, client list, …).
type verb struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// runGroup dispatches `latchkey <group> <verb> …`.
func runGroup(ctx context.Context, group string, verbs []verb, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: latchkey %s <action> [flags]   (latchkey %s <action> -h documents each)\n\n", group, group)
		for _, v := range verbs {
			fmt.Fprintf(w, "  %-40s %s\n", strings.TrimSpace(v.name+" "+v.args), v.summary)
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return usageError{errors.New("an action is required")}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return flag.ErrHelp
	}
	if strings.HasPrefix(args[0], "-") {
		usage(stderr)
		return usageError{errors.New("an action is required before the flags")}
	}
	for _, v := range verbs {
		if v.name == args[0] {
			return v.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return usageError{fmt.Errorf("unknown action %q", args[0])}
}

// target says where the Management API is (flags shared by every admin
// command) and how to print.
type target struct {
	cfg    config.Config
	server string
	token  string
	asJSON bool
	// create lets local mode start a new SQLite store (apply may set up a
	// store before the first serve); otherwise a missing one is an error,
	// so that a mistyped --data-dir does not quietly show an empty tenant.
	create bool
	// envFlags are the target flags, which take LATCHKEY_* variables
	// (the command's own flags do not).
	envFlags []string
}

// newFlagSet returns the FlagSet of `latchkey <name>` with the target flags.
func (t *target) newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: latchkey %s [flags]   (flags may follow the arguments)\n", name)
		fs.PrintDefaults()
	}
	t.cfg.StoreFlags(fs)
	fs.StringVar(&t.cfg.RedisURL, "redis-url", "", "local mode: the Redis serve uses (--redis-url), so that brute-force and IP blocks can be listed and lifted")
	fs.StringVar(&t.cfg.Issuer, "issuer", "http://127.0.0.1:3000/",
		"local mode: the issuer serve uses; it names the Management API audience")
	fs.StringVar(&t.server, "server", "", "remote mode: base URL of a Latchkey server; without it the store is opened directly")
	fs.StringVar(&t.token, "token", "", "remote mode: Management API access token")
	t.envFlags = nil
	fs.VisitAll(func(f *flag.Flag) { t.envFlags = append(t.envFlags, f.Name) })
	fs.BoolVar(&t.asJSON, "json", false, "print the API's JSON instead of a table")
	config.DocumentEnv(fs, t.envFlags...)
	return fs, nil
}

// parseArgs parses the command line (parseArgs), then completes the
// target flags from the environment.
func (t *target) parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	pos, err := parseArgs(fs, args, minPos, maxPos)
	if err != nil {
		return nil, err
	}
	if err := t.cfg.Environment(fs, os.LookupEnv, t.envFlags...); err != nil {
		return nil, usageError{err}
	}
	return pos, nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and checks how many positional arguments there are.
func parseArgs(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minPos:
		return nil, usageError{fmt.Errorf("%d argument(s) missing (see %s -h)", minPos-len(pos), fs.Name())}
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, usageError{fmt.Errorf("unexpected arguments: %v", pos[maxPos:])}
	}
	return pos, nil
}

// api is a Management API client, remote or in process.
type api struct {
	base   *url.URL
	http   *http.Client
	token  string
	local  *server.Local
	asJSON bool
}

// open connects to the Management API the flags name.
func (t *target) open(ctx context.Context, stderr io.Writer) (*api, error) {
	if t.server != "" {
		u, err := url.Parse(t.server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageError{fmt.Errorf("--server: %q is not an http(s) URL", t.server)}
		}
		if t.token == "" {
			return nil, usageError{errors.New("--server needs --token (or LATCHKEY_TOKEN): a Management API access token")}
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		return &api{base: u, http: &http.Client{Timeout: 30 * time.Second}, token: t.token, asJSON: t.asJSON}, nil
	}
	if t.token != "" {
		return nil, usageError{errors.New("--token is for remote mode: give --server too")}
	}
	if !strings.HasSuffix(t.cfg.Issuer, "/") {
		t.cfg.Issuer += "/"
	}
	if path := server.SQLitePath(t.cfg); path != "" && !t.create {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no store at %s: pass the --data-dir (or --database-url) that serve uses, or run latchkey migrate to create one", path)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := server.LocalManagement(ctx, t.cfg, log)
	if err != nil {
		return nil, fmt.Errorf("open the store: %w", err)
	}
	u, _ := url.Parse(server.LocalBaseURL)
	return &api{base: u, http: &http.Client{Transport: l.Transport}, token: l.Token, local: l, asJSON: t.asJSON}, nil
}

func (a *api) Close() error {
	if a.local != nil {
		return a.local.Close()
	}
	return nil
}

// apiError is a Management API error response.
type apiError struct {
	Status    int    `json:"statusCode"`
	Err       string `json:"error"`
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s: %s", e.Status, e.Err, e.Message)
	if e.ErrorCode != "" {
		s += " (" + e.ErrorCode + ")"
	}
	if e.Status == http.StatusNotFound && e.ErrorCode == "not_found" {
		s += ": this server does not offer that endpoint (an older version?)"
	}
	return s
}

// do calls the API: path is relative to /api/v2/ (with url.PathEscape'd
// segments), body (if not nil) is
// sent as JSON. It returns the response body, or an *apiError.
func (a *api) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	ref, err := url.Parse("api/v2/" + path) // path's segments are escaped
	if err != nil {
		return nil, fmt.Errorf("bad API path %q: %w", path, err)
	}
	u := a.base.ResolveReference(ref)
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "latchkey-cli")
	res, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, u.Path, err)
	}
	if res.StatusCode >= 300 {
		e := &apiError{}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e = &apiError{Status: res.StatusCode, Err: http.StatusText(res.StatusCode), Message: strings.TrimSpace(string(truncate(raw, 200)))}
		}
		if e.Status == 0 {
			e.Status = res.StatusCode
		}
		return nil, e
	}
	return raw, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// call does a request and decodes the JSON response into v (unless nil).
func (a *api) call(ctx context.Context, method, path string, query url.Values, body, v any) ([]byte, error) {
	raw, err := a.do(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	if v != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return raw, nil
}

// listAll reads every page of an offset-paged list endpoint that returns a
// bare array.
func (a *api) listAll(ctx context.Context, path string, query url.Values) ([]map[string]any, error) {
	var all []map[string]any
	for page := 0; ; page++ {
		q := url.Values{"per_page": {"100"}, "page": {fmt.Sprint(page)}}
		for k, v := range query {
			q[k] = v
		}
		var items []map[string]any
		if _, err := a.call(ctx, "GET", path, q, nil, &items); err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < 100 {
			return all, nil
		}
	}
}

// printJSON prints v indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printRaw prints a JSON response indented.
func printRaw(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s\n", buf.Bytes())
	return err
}

// printTable prints rows under a header, aligned.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printObject prints a JSON object as FIELD/VALUE rows, nested objects as
// dotted paths.
func printObject(w io.Writer, raw []byte) error {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	flat := map[string]string{}
	flatten("", obj, flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k, flat[k]})
	}
	return printTable(w, []string{"FIELD", "VALUE"}, rows)
}

func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok && len(m) > 0 {
		for k, x := range m {
			flatten(strings.TrimPrefix(prefix+"."+k, "."), x, out)
		}
		return
	}
	out[prefix] = cell(v)
}

// cell renders a JSON value for a table cell.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if s, ok := e.(string); ok {
				parts[i] = s
			} else {
				b, _ := json.Marshal(e)
				parts[i] = string(b)
			}
		}
		return strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// str is m[k] as a cell.
func str(m map[string]any, k string) string { return cell(m[k]) }

// output prints a single-object response: raw JSON or FIELD/VALUE rows.
func (a *api) output(w io.Writer, raw []byte) error {
	if a.asJSON {
		return printRaw(w, raw)
	}
	return printObject(w, raw)
}

// fieldFlags are command-line flags that set fields of a JSON body (for
// create and update): only the flags given are sent.
type fieldFlags struct {
	vals map[string]*fieldValue
	data string
}

type fieldKind int

const (
	kindString fieldKind = iota
	kindList             // comma-separated
	kindBool
	kindJSON
)

type fieldValue struct {
	key  string
	kind fieldKind
	val  any
	set  bool
}

func (v *fieldValue) String() string { return "" }

func (v *fieldValue) IsBoolFlag() bool { return v.kind == kindBool }

func (v *fieldValue) Set(s string) error {
	v.set = true
	switch v.kind {
	case kindList:
		list := []string{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.val = list
	case kindBool:
		switch s {
		case "true":
			v.val = true
		case "false":
			v.val = false
		default:
			return fmt.Errorf("%q is not true or false", s)
		}
	case kindJSON:
		var x any
		if err := json.Unmarshal([]byte(s), &x); err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		v.val = x
	default:
		v.val = s
	}
	return nil
}

// field is one flag of a fieldFlags.
type field struct {
	flag, key string
	kind      fieldKind
	usage     string
}

// createVerb is a `… create` command: the fields as flags, the body field
// required (missing is the usage error missing), POSTed to path.
func createVerb(name, path string, fields []field, required, missing string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		var t target
		fs, err := t.newFlagSet(name, stderr)
		if err != nil {
			return err
		}
		ff := newFieldFlags(fs, fields)
		if _, err := t.parseArgs(fs, args, 0, 0); err != nil {
			return err
		}
		body, err := ff.body()
		if err != nil {
			return err
		}
		if body[required] == nil {
			return usageError{errors.New(missing)}
		}
		return t.with(ctx, stderr, func(a *api) error {
			raw, err := a.call(ctx, "POST", path, nil, body, nil)
			if err != nil {
				return err
			}
			return a.output(stdout, raw)
		})
	}
}

func newFieldFlags(fs *flag.FlagSet, fields []field) *fieldFlags {
	f := &fieldFlags{vals: map[string]*fieldValue{}}
	for _, fd := range fields {
		v := &fieldValue{key: fd.key, kind: fd.kind}
		f.vals[fd.flag] = v
		fs.Var(v, fd.flag, fd.usage)
	}
	fs.StringVar(&f.data, "data", "", "JSON object with more fields (or @FILE); the other flags override it")
	return f
}

// body is the JSON object the flags describe.
func (f *fieldFlags) body() (map[string]any, error) {
	body := map[string]any{}
	if f.data != "" {
		raw := []byte(f.data)
		if name, ok := strings.CutPrefix(f.data, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("--data: %w", err)
			}
			raw = b
		}
		if err := json.Unmarshal(raw, &body); err != nil || body == nil {
			return nil, usageError{fmt.Errorf("--data: not a JSON object: %v", err)}
		}
	}
	for _, v := range f.vals {
		if v.set {
			body[v.key] = v.val
		}
	}
	return body, nil
}
