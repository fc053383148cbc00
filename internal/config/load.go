package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/distrod/distrod/internal/memberaddr"
)

// ConfigEnv names the environment variable holding the config file path
// when -config is not given.
const ConfigEnv = "DISTROD_CONFIG"

// nacosEnv maps the environment variables of the Nacos Docker image to
// setting keys. They apply before the DISTROD_ variables, which therefore
// win when both are set. unit is appended to a bare number (Nacos gives
// some durations in seconds).
var nacosEnv = []struct{ name, key, unit string }{
	{"MODE", "mode", ""},
	{"NACOS_SERVER_IP", "ip", ""},
	{"NACOS_APPLICATION_PORT", "port", ""},
	{"SERVER_SERVLET_CONTEXTPATH", "context-path", ""},
	{"NACOS_HOME", "home", ""},
	{"NACOS_SERVERS", "members", ""},
	{"PREFER_HOST_MODE", "prefer-host-mode", ""},
	{"NACOS_AUTH_ENABLE", "auth-enabled", ""},
	{"NACOS_AUTH_TOKEN", "auth-token-secret", ""},
	{"NACOS_AUTH_TOKEN_EXPIRE_SECONDS", "auth-token-ttl", "s"},
	{"NACOS_AUTH_IDENTITY_KEY", "auth-identity-key", ""},
	{"NACOS_AUTH_IDENTITY_VALUE", "auth-identity-value", ""},
	{"SERVER_SSL_CERTIFICATE", "http-tls-cert-file", ""},
	{"SERVER_SSL_CERTIFICATE_PRIVATE_KEY", "http-tls-key-file", ""},
	{"NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE", "grpc-tls-cert-file", ""},
	{"NACOS_REMOTE_SERVER_RPC_TLS_CERTPRIVATEKEY", "grpc-tls-key-file", ""},
	{"NACOS_REMOTE_SERVER_RPC_TLS_COMPATIBILITY", "grpc-tls-compatibility", ""},
}

// setting describes one Config field as seen by the file, the environment
// and the flags.
type setting struct {
	key   string              // kebab-case: YAML key and flag name
	env   string              // DISTROD_ variable
	field reflect.StructField // the Config field
}

// settings derives the table from Config's yaml tags once.
var settings = sync.OnceValue(func() []setting {
	t := reflect.TypeFor[Config]()
	out := make([]setting, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" {
			continue
		}
		out = append(out, setting{
			key:   key,
			env:   "DISTROD_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_")),
			field: f,
		})
	}
	return out
})

func lookupSetting(key string) (setting, bool) {
	for _, s := range settings() {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// set parses text into the field named by s.
func (s setting) set(c *Config, text string) error {
	v := reflect.ValueOf(c).Elem().FieldByIndex(s.field.Index)
	text = strings.TrimSpace(text)
	switch {
	case s.field.Type == durationType:
		d, err := time.ParseDuration(text)
		if err != nil {
			if _, nerr := strconv.ParseInt(text, 10, 64); nerr == nil {
				return fmt.Errorf("%q has no unit: write e.g. %sms or %ss", text, text, text)
			}
			return fmt.Errorf("%q is not a duration such as 500ms or 5s", text)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		if s.key == "mode" {
			text = strings.ToLower(text)
		}
		v.SetString(text)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("%q is not an integer", text)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(memberaddr.SplitMembers(text)))
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", text)
		}
		v.SetBool(b)
	default:
		return fmt.Errorf("unsupported field type %v", s.field.Type)
	}
	return nil
}

// Load builds the configuration from, in increasing precedence, defaults,
// the YAML file named by -config (or DISTROD_CONFIG), the environment
// (read through getenv; pass os.Getenv) and the command-line args (without
// the program name). In cluster mode with file lookup it reads the member
// list from MemberFilePath. The result is normalised and validated. On -h
// or -help it returns flag.ErrHelp; print PrintUsage then.
func Load(args []string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	c := DefaultConfig()
	detectedIP := c.IP

	fs := flag.NewFlagSet("distrod", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configPath := fs.String("config", "", "path of the YAML config file (env "+ConfigEnv+")")
	raw := map[string]*string{}
	for _, s := range settings() {
		p := new(string)
		raw[s.key] = p
		fs.StringVar(p, s.key, "", s.key)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, flag.ErrHelp
		}
		return Config{}, fmt.Errorf("%w: %v (run with -h for the list of flags)", ErrInvalidValue, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q (flags are written -name value)", ErrInvalidValue, fs.Arg(0))
	}

	// File.
	path := *configPath
	if path == "" {
		path = getenv(ConfigEnv)
	}
	if path != "" {
		if err := loadFile(&c, path); err != nil {
			return Config{}, err
		}
	}

	// An address given anywhere beats PREFER_HOST_MODE=hostname.
	ipExplicit := c.IP != detectedIP || getenv("NACOS_SERVER_IP") != "" || getenv("DISTROD_IP") != ""

	// Environment: Nacos names first, so DISTROD_ names win.
	for _, e := range nacosEnv {
		if v := getenv(e.name); v != "" {
			if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && e.unit != "" {
				v = strings.TrimSpace(v) + e.unit
			}
			s, _ := lookupSetting(e.key)
			if err := s.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("%w: environment %s: %v", ErrInvalidValue, e.name, err)
			}
		}
	}
	for _, s := range settings() {
		if v := getenv(s.env); v != "" {
			if err := s.set(&c, v); err != nil {
				return Config{}, fmt.Errorf("%w: environment %s: %v", ErrInvalidValue, s.env, err)
			}
		}
	}

	// Flags: one value per flag (the last occurrence on the command line
	// wins), so the order Visit walks them in does not matter.
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ip" {
			ipExplicit = true
		}
		s, ok := lookupSetting(f.Name)
		if !ok || flagErr != nil {
			return
		}
		if err := s.set(&c, *raw[f.Name]); err != nil {
			flagErr = fmt.Errorf("%w: flag -%s: %v", ErrInvalidValue, f.Name, err)
		}
	})
	if flagErr != nil {
		return Config{}, flagErr
	}

	// Secret file.
	if c.ClusterSecretFile != "" {
		if err := c.readSecretFile(); err != nil {
			return Config{}, err
		}
	}

	// Member file.
	c.Mode = Mode(strings.ToLower(string(c.Mode)))
	if c.Mode == ModeCluster && c.Lookup() == LookupFile {
		members, err := readMemberFile(c.MemberFilePath(), c.Port)
		if err != nil {
			return Config{}, err
		}
		c.Members = members
		c.MemberLookup = LookupFile
	}

	if err := c.applyHostMode(ipExplicit, getenv); err != nil {
		return Config{}, err
	}

	if err := c.Normalize(); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readMemberFile parses a cluster.conf; a missing or empty file is
// ErrNoMembers, naming the path.
func readMemberFile(path string, port int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (no file %s)", ErrNoMembers, path)
		}
		return nil, fmt.Errorf("%w: %w", ErrMemberFile, err)
	}
	defer f.Close()
	members, err := memberaddr.ParseClusterConf(f, port)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("%w (%s lists no member)", ErrNoMembers, path)
	}
	return members, nil
}

// readSecretFile sets ClusterSecret from ClusterSecretFile. Neither the
// secret nor the file's content appears in its errors.
func (c *Config) readSecretFile() error {
	if c.ClusterSecret != "" {
		return fmt.Errorf("%w: both cluster-secret and cluster-secret-file are set: keep one", ErrClusterSecret)
	}
	path := c.ClusterSecretFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.Home, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: cluster-secret-file: %w", ErrClusterSecret, err)
	}
	secret := strings.TrimSpace(string(data))
	if secret == "" {
		return fmt.Errorf("%w: cluster-secret-file %s is empty", ErrClusterSecret, path)
	}
	c.ClusterSecret = secret
	return nil
}

// loadFile decodes the YAML file at path over c. Unknown keys are errors,
// so that a typo does not silently leave a default in place.
func loadFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfigFile, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: %v (durations need a unit, e.g. \"500ms\"; see conf/distrod.example.yaml)", ErrConfigFile, path, err)
	}
	return nil
}

// PrintUsage writes the flags, their environment variables and defaults to
// w, for -h.
func PrintUsage(w io.Writer) {
	d := DefaultLocalConfig()
	dv := reflect.ValueOf(d)
	fmt.Fprintf(w, "Usage: distrod [flags]\n\n")
	fmt.Fprintf(w, "Precedence: defaults < config file < environment < flags.\n")
	fmt.Fprintf(w, "Durations take a unit (10ms, 5s). Lists are comma- or space-separated.\n\n")
	fmt.Fprintf(w, "  -config path\n\tYAML config file, keys as the flag names (env %s)\n", ConfigEnv)
	nacosName := map[string]string{}
	for _, e := range nacosEnv {
		nacosName[e.key] = e.name
	}
	for _, s := range settings() {
		env := s.env
		if n := nacosName[s.key]; n != "" {
			env = n + ", " + env
		}
		def := dv.FieldByIndex(s.field.Index).Interface()
		if s.key == "ip" {
			def = "first non-loopback IPv4, else 127.0.0.1"
		}
		if l, ok := def.([]string); ok {
			def = strings.Join(l, ",")
		}
		fmt.Fprintf(w, "  -%s\n\tenv %s (default %v)\n", s.key, env, def)
	}
}
