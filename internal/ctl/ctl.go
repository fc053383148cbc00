package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrUsage marks a command line ctl cannot run; Main exits 2 on it.
var ErrUsage = errors.New("ctl: usage")

const usage = `Usage: distrod ctl [flags] COMMAND [ARGS]

Commands:
  status                      this node's view: readiness, members, counts, digest
  members                     the cluster members and their states
  services                    services of a namespace (-namespace, -group)
  instances SERVICE           instances of a service
  enable SERVICE IP:PORT      mark an instance enabled (receives traffic)
  disable SERVICE IP:PORT     mark an instance disabled (kept, but not chosen by clients)

Flags (also accepted after the command; environment in parentheses):
`

// Client talks to one node's HTTP API the way a Nacos client does.
type Client struct {
	// Base is the node's URL without the context path, "http://host:port".
	Base string
	// ContextPath is the API prefix, "/nacos" unless the node sets
	// SERVER_SERVLET_CONTEXTPATH.
	ContextPath string
	// HTTP sends the requests; nil means a client with a 10 s timeout.
	HTTP *http.Client

	token string
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// APIError is a non-2xx answer.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Body))
}

// Login exchanges a username and password for an access token
// (POST /v1/auth/users/login), sent with every later request.
func (c *Client) Login(ctx context.Context, username, password string) error {
	var out struct {
		AccessToken string `json:"accessToken"`
	}
	form := url.Values{"username": {username}, "password": {password}}
	if err := c.do(ctx, http.MethodPost, c.ContextPath+"/v1/auth/users/login", form, &out); err != nil {
		return fmt.Errorf("ctl: login as %s: %w", username, err)
	}
	if out.AccessToken == "" {
		return fmt.Errorf("ctl: login as %s: the answer holds no accessToken", username)
	}
	c.token = out.AccessToken
	return nil
}

// do sends a request with params (query for GET, form otherwise) and
// decodes a JSON answer into out (when out is not nil; a *string gets the
// raw body).
func (c *Client) do(ctx context.Context, method, path string, params url.Values, out any) error {
	if params == nil {
		params = url.Values{}
	}
	u := c.Base + path
	var body io.Reader
	if method == http.MethodGet {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.token != "" {
		req.Header.Set("accessToken", c.token)
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("ctl: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("ctl: reading %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Body: string(data)}
	}
	switch o := out.(type) {
	case nil:
	case *string:
		*o = string(data)
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("ctl: decoding %s: %w", path, err)
		}
	}
	return nil
}

// Status is the part of /distrod/status ctl shows.
type Status struct {
	Self      string `json:"self"`
	Mode      string `json:"mode"`
	Ready     bool   `json:"ready"`
	Digest    string `json:"digest"`
	Services  int    `json:"services"`
	Instances int    `json:"instances"`
	Clients   int    `json:"clients"`
	Members   []struct {
		Address string `json:"address"`
		State   string `json:"state"`
	} `json:"members"`
}

// Status reads /distrod/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/distrod/status", nil, &st)
	return st, err
}

// Member is one entry of Nacos's cluster member list.
type Member struct {
	Address string `json:"address"`
	State   string `json:"state"`
}

// Members reads /v1/core/cluster/nodes.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var out struct {
		Data []Member `json:"data"`
	}
	err := c.do(ctx, http.MethodGet, c.ContextPath+"/v1/core/cluster/nodes", nil, &out)
	return out.Data, err
}

// Services lists the service names of a namespace and group (empty means
// public and DEFAULT_GROUP), reading every page of /v1/ns/service/list.
func (c *Client) Services(ctx context.Context, namespace, group string) ([]string, error) {
	const pageSize = 500
	var all []string
	for page := 1; ; page++ {
		var out struct {
			Count int      `json:"count"`
			Doms  []string `json:"doms"`
		}
		q := url.Values{"pageNo": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(pageSize)}}
		setIf(q, "namespaceId", namespace)
		setIf(q, "groupName", group)
		if err := c.do(ctx, http.MethodGet, c.ContextPath+"/v1/ns/service/list", q, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Doms...)
		if len(out.Doms) < pageSize || len(all) >= out.Count {
			return all, nil
		}
	}
}

// Instance is one instance as the console's catalog shows it.
type Instance struct {
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	ClusterName string            `json:"clusterName"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	Metadata    map[string]string `json:"metadata"`
}

// Instances lists every instance of a service, healthy or not, enabled or
// not (GET /v1/ns/catalog/instances, every page; /instance/list would leave
// disabled ones out).
func (c *Client) Instances(ctx context.Context, namespace, group, service string) ([]Instance, error) {
	const pageSize = 500
	var all []Instance
	for page := 1; ; page++ {
		var out struct {
			List  []Instance `json:"list"`
			Count int        `json:"count"`
		}
		q := url.Values{"serviceName": {service}, "pageNo": {strconv.Itoa(page)}, "pageSize": {strconv.Itoa(pageSize)}}
		setIf(q, "namespaceId", namespace)
		setIf(q, "groupName", group)
		if err := c.do(ctx, http.MethodGet, c.ContextPath+"/v1/ns/catalog/instances", q, &out); err != nil {
			return nil, err
		}
		all = append(all, out.List...)
		if len(out.List) < pageSize || len(all) >= out.Count {
			return all, nil
		}
	}
}

// SetEnabled enables or disables one instance (PATCH /v1/ns/instance,
// which changes only the fields it is given). It applies to instances
// registered over HTTP; distrod keys those by ip:port.
func (c *Client) SetEnabled(ctx context.Context, namespace, group, service, cluster, ip string, port int, enabled bool) error {
	q := url.Values{"serviceName": {service}, "ip": {ip}, "port": {strconv.Itoa(port)}, "enabled": {strconv.FormatBool(enabled)}}
	setIf(q, "namespaceId", namespace)
	setIf(q, "groupName", group)
	setIf(q, "clusterName", cluster)
	return c.do(ctx, http.MethodPatch, c.ContextPath+"/v1/ns/instance", q, nil)
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// Main runs `distrod ctl` with args (after "ctl") and returns the exit
// status: 0 success, 1 a failed request, 2 a usage error.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(args, getenv, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintln(stderr, "distrod ctl:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "distrod ctl:", err)
		return 1
	}
}

type options struct {
	server, ctxPath, username, password string
	namespace, group, cluster           string
	jsonOut                             bool
	timeout                             time.Duration
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("distrod ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", firstNonEmpty(getenv("DISTROD_CTL_SERVER"), "127.0.0.1:8848"), "node's HTTP address host:port, or a URL (DISTROD_CTL_SERVER)")
	fs.StringVar(&o.ctxPath, "context-path", firstNonEmpty(getenv("SERVER_SERVLET_CONTEXTPATH"), "/nacos"), "the node's context path (SERVER_SERVLET_CONTEXTPATH)")
	fs.StringVar(&o.username, "username", getenv("DISTROD_CTL_USERNAME"), "log in as this user when the node has auth on (DISTROD_CTL_USERNAME)")
	fs.StringVar(&o.password, "password", "", "the user's password; prefer DISTROD_CTL_PASSWORD, the process list shows flags")
	fs.StringVar(&o.namespace, "namespace", "", "namespace id (default public)")
	fs.StringVar(&o.group, "group", "", "group (default DEFAULT_GROUP)")
	fs.StringVar(&o.cluster, "cluster", "", "instance cluster for enable/disable (default: any)")
	fs.BoolVar(&o.jsonOut, "json", false, "print JSON instead of a table")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "overall deadline")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	// Flags may come before and after the command and its arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", ErrUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if o.password == "" {
		o.password = getenv("DISTROD_CTL_PASSWORD")
	}
	if len(pos) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no command", ErrUsage)
	}
	base := o.server
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	c := &Client{Base: strings.TrimSuffix(base, "/"), ContextPath: o.ctxPath}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.username != "" {
		if err := c.Login(ctx, o.username, o.password); err != nil {
			return err
		}
	}
	cmd, rest := pos[0], pos[1:]
	want := func(n int, names string) error {
		if len(rest) != n {
			return fmt.Errorf("%w: %s takes %s", ErrUsage, cmd, names)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch cmd {
	case "status":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if o.jsonOut {
			return printJSON(stdout, st)
		}
		fmt.Fprintf(tw, "self\t%s\nmode\t%s\nready\t%t\ndigest\t%s\nservices\t%d\ninstances\t%d\nclients\t%d\n\nMEMBER\tSTATE\n",
			st.Self, st.Mode, st.Ready, st.Digest, st.Services, st.Instances, st.Clients)
		for _, m := range st.Members {
			fmt.Fprintf(tw, "%s\t%s\n", m.Address, m.State)
		}
	case "members":
		if err := want(0, "no arguments"); err != nil {
			return err
		}
		ms, err := c.Members(ctx)
		if err != nil {
			return err
		}
		if o.jsonOut {
			return printJSON(stdout, ms)
		}
		fmt.Fprintln(tw, "ADDRESS\tSTATE")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\n", m.Address, m.State)
		}
	case "services":
		if err := want(0, "no arguments (use -namespace and -group)"); err != nil {
			return err
		}
		ss, err := c.Services(ctx, o.namespace, o.group)
		if err != nil {
			return err
		}
		if o.jsonOut {
			return printJSON(stdout, ss)
		}
		for _, s := range ss {
			fmt.Fprintln(tw, s)
		}
	case "instances":
		if err := want(1, "SERVICE"); err != nil {
			return err
		}
		is, err := c.Instances(ctx, o.namespace, o.group, rest[0])
		if err != nil {
			return err
		}
		if o.jsonOut {
			return printJSON(stdout, is)
		}
		fmt.Fprintln(tw, "ADDRESS\tCLUSTER\tWEIGHT\tHEALTHY\tENABLED\tEPHEMERAL")
		for _, i := range is {
			fmt.Fprintf(tw, "%s\t%s\t%g\t%t\t%t\t%t\n", net.JoinHostPort(i.IP, strconv.Itoa(i.Port)), i.ClusterName, i.Weight, i.Healthy, i.Enabled, i.Ephemeral)
		}
	case "enable", "disable":
		if err := want(2, "SERVICE IP:PORT"); err != nil {
			return err
		}
		host, portStr, err := net.SplitHostPort(rest[1])
		port, perr := strconv.Atoi(portStr)
		if err != nil || perr != nil {
			return fmt.Errorf("%w: %q is not IP:PORT", ErrUsage, rest[1])
		}
		if err := c.SetEnabled(ctx, o.namespace, o.group, rest[0], o.cluster, host, port, cmd == "enable"); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s %s: %sd\n", rest[0], rest[1], cmd)
	default:
		return fmt.Errorf("%w: unknown command %q (status, members, services, instances, enable, disable)", ErrUsage, cmd)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
