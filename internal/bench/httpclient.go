package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPClient is one simulated nacos-sdk-go v1 naming client talking to one
// node over a single keep-alive connection. It is not safe for concurrent
// use (a simulated client is one goroutine).
type HTTPClient struct {
	base   string // http://host:port/nacos
	hc     *http.Client
	buf    bytes.Buffer
	header http.Header
}

// NewHTTPClient returns a client for the node at target (host:httpPort).
// timeout bounds each request (the SDK's default is 10s).
func NewHTTPClient(target string, timeout time.Duration) *HTTPClient {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		Proxy:               nil, // loopback only: never via a proxy
	}
	h := http.Header{}
	h.Set("Client-Version", ClientVersionV1)
	h.Set("User-Agent", ClientVersionV1)
	h.Set("Connection", "Keep-Alive")
	h.Set("Request-Module", "Naming")
	h.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	return &HTTPClient{base: "http://" + target + "/nacos", hc: &http.Client{Transport: tr, Timeout: timeout}, header: h}
}

// Close releases the client's connection.
func (c *HTTPClient) Close() { c.hc.CloseIdleConnections() }

// do sends one request and returns the body of a 2xx answer; anything
// else is a *StatusError.
func (c *HTTPClient) do(ctx context.Context, method, url string, body string) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header = c.header.Clone()
	req.Header.Set("RequestId", uuid4())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(resp.Body); err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := c.buf.String()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		return nil, &StatusError{HTTP: resp.StatusCode, Message: msg}
	}
	return c.buf.Bytes(), nil
}

// grouped is the v1 service name form: group@@service.
func grouped(service string) string { return DefaultGroup + "@@" + service }

// Register is the v1 register call: POST /v1/ns/instance with a
// URL-encoded form, the parameters the v1 SDK sends.
func (c *HTTPClient) Register(ctx context.Context, namespace, service string, inst Instance) error {
	md, _ := json.Marshal(inst.Metadata)
	form := url.Values{}
	form.Set("namespaceId", namespace)
	form.Set("serviceName", grouped(service))
	form.Set("groupName", DefaultGroup)
	form.Set("app", AppName)
	form.Set("clusterName", inst.ClusterName)
	form.Set("ip", inst.IP)
	form.Set("port", strconv.FormatUint(inst.Port, 10))
	form.Set("weight", strconv.FormatFloat(inst.Weight, 'f', -1, 64))
	form.Set("enable", strconv.FormatBool(inst.Enabled))
	form.Set("healthy", strconv.FormatBool(inst.Healthy))
	form.Set("metadata", string(md))
	form.Set("ephemeral", strconv.FormatBool(inst.Ephemeral))
	_, err := c.do(ctx, http.MethodPost, c.base+"/v1/ns/instance", form.Encode())
	return err
}

// beatInfo is the v1 SDK's beat JSON, in its field order.
type beatInfo struct {
	IP          string            `json:"ip"`
	Port        uint64            `json:"port"`
	Weight      float64           `json:"weight"`
	ServiceName string            `json:"serviceName"`
	Cluster     string            `json:"cluster"`
	Metadata    map[string]string `json:"metadata"`
	Scheduled   bool              `json:"scheduled"`
}

// BeatBody is the raw, unescaped PUT body of a v1 heartbeat: namespaceId
// (left out when empty), serviceName=group@@svc, beat=<JSON>.
func BeatBody(namespace, service string, inst Instance) string {
	b, _ := json.Marshal(beatInfo{IP: inst.IP, Port: inst.Port, Weight: inst.Weight, ServiceName: grouped(service),
		Cluster: inst.ClusterName, Metadata: inst.Metadata})
	var sb strings.Builder
	if namespace != "" {
		sb.WriteString("namespaceId=" + namespace + "&")
	}
	sb.WriteString("serviceName=" + grouped(service) + "&beat=")
	sb.Write(b)
	return sb.String()
}

// Beat is the v1 heartbeat: PUT /v1/ns/instance/beat with body
// BeatBody(...). Like the SDK, it needs an integer clientBeatInterval in
// the answer and returns it.
func (c *HTTPClient) Beat(ctx context.Context, namespace, service string, inst Instance) (int64, error) {
	out, err := c.do(ctx, http.MethodPut, c.base+"/v1/ns/instance/beat", BeatBody(namespace, service, inst))
	if err != nil {
		return 0, err
	}
	var r struct {
		ClientBeatInterval *int64 `json:"clientBeatInterval"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.ClientBeatInterval == nil {
		return 0, fmt.Errorf("%w: beat answer without clientBeatInterval: %.80s", ErrShortAnswer, out)
	}
	return *r.ClientBeatInterval, nil
}

// ListQuery is the v1 instance-list query string, unescaped as the v1 SDK
// sends it. udpPort is 0: simulated clients open no UDP listener, so they
// ask for no UDP pushes.
func ListQuery(namespace, service string) string {
	return "namespaceId=" + namespace + "&serviceName=" + grouped(service) + "&app=" + AppName +
		"&clusters=&udpPort=0&healthyOnly=false&clientIP=" + LocalIP()
}

// List is the v1 query: GET /v1/ns/instance/list.
func (c *HTTPClient) List(ctx context.Context, namespace, service string) (ServiceInfo, error) {
	out, err := c.do(ctx, http.MethodGet, c.base+"/v1/ns/instance/list?"+ListQuery(namespace, service), "")
	if err != nil {
		return ServiceInfo{}, err
	}
	var si ServiceInfo
	if err := json.Unmarshal(out, &si); err != nil {
		return ServiceInfo{}, fmt.Errorf("%w: instance list: %v", ErrShortAnswer, err)
	}
	return si, nil
}

// uuid4 returns a random RFC 4122 version 4 UUID, as the SDK's RequestId.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// CreateNamespace is the console's namespace create: POST
// /v1/console/namespaces. Nacos answers true, or false for an invalid or
// existing id; false is an error here.
func (c *HTTPClient) CreateNamespace(ctx context.Context, id, name string) error {
	form := url.Values{}
	form.Set("customNamespaceId", id)
	form.Set("namespaceName", name)
	out, err := c.do(ctx, http.MethodPost, c.base+"/v1/console/namespaces", form.Encode())
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) != "true" {
		return fmt.Errorf("%w: namespace create answered %.80s", ErrShortAnswer, out)
	}
	return nil
}
