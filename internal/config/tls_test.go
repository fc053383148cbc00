package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad_TLSSettingsFromNacosAndSpringEnv(t *testing.T) {
	c, err := Load(nil, env(
		"NACOS_HOME", "/opt/nacos",
		"SERVER_SSL_CERTIFICATE", "conf/http.pem",
		"SERVER_SSL_CERTIFICATE_PRIVATE_KEY", "conf/http-key.pem",
		"NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE", "/etc/tls/grpc.pem",
		"NACOS_REMOTE_SERVER_RPC_TLS_CERTPRIVATEKEY", "/etc/tls/grpc-key.pem",
		"NACOS_REMOTE_SERVER_RPC_TLS_COMPATIBILITY", "true",
		"DISTROD_GRPC_TLS_CLIENT_CA_FILE", "/etc/tls/clients.pem",
	))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPTLSCertFile != "conf/http.pem" || c.HTTPTLSKeyFile != "conf/http-key.pem" ||
		c.GRPCTLSCertFile != "/etc/tls/grpc.pem" || c.GRPCTLSKeyFile != "/etc/tls/grpc-key.pem" ||
		!c.GRPCTLSCompatibility || c.GRPCTLSClientCAFile != "/etc/tls/clients.pem" {
		t.Fatalf("got %+v", c)
	}
	if got, want := c.HomePath(c.HTTPTLSCertFile), filepath.Join("/opt/nacos", "conf/http.pem"); got != want {
		t.Fatalf("HomePath = %q, want %q", got, want)
	}
	if got := c.HomePath(c.GRPCTLSCertFile); got != "/etc/tls/grpc.pem" {
		t.Fatalf("HomePath of an absolute path = %q", got)
	}
	// The DISTROD_ name wins over the Nacos name, a flag over both.
	c, err = Load([]string{"-grpc-tls-key-file", "flag.pem"}, env(
		"NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE", "nacos.pem", "DISTROD_GRPC_TLS_CERT_FILE", "distrod.pem",
		"NACOS_REMOTE_SERVER_RPC_TLS_CERTPRIVATEKEY", "nacos-key.pem"))
	if err != nil || c.GRPCTLSCertFile != "distrod.pem" || c.GRPCTLSKeyFile != "flag.pem" {
		t.Fatalf("precedence: cert %q key %q err %v", c.GRPCTLSCertFile, c.GRPCTLSKeyFile, err)
	}
}

func TestValidate_TLSRejectsIncompleteSettings(t *testing.T) {
	cluster := []string{"MODE", "cluster", "NACOS_SERVERS", "127.0.0.1:8848 127.0.0.1:8858", "NACOS_SERVER_IP", "127.0.0.1"}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"http key without cert", []string{"DISTROD_HTTP_TLS_KEY_FILE", "k.pem"}, "http-tls-key-file is set but http-tls-cert-file is not"},
		{"http cert without key", []string{"DISTROD_HTTP_TLS_CERT_FILE", "c.pem"}, "http-tls-cert-file is set but http-tls-key-file is not"},
		{"http client CA alone", []string{"DISTROD_HTTP_TLS_CLIENT_CA_FILE", "ca.pem"}, "mutual TLS on the HTTP port"},
		{"grpc cert without key", []string{"DISTROD_GRPC_TLS_CERT_FILE", "c.pem"}, "grpc-tls-key-file is not"},
		{"grpc client CA alone", []string{"DISTROD_GRPC_TLS_CLIENT_CA_FILE", "ca.pem"}, "mutual TLS on the gRPC port"},
		{"compatibility without TLS", []string{"DISTROD_GRPC_TLS_COMPATIBILITY", "true"}, "grpc-tls-compatibility is set"},
		{"cluster without CA", append([]string{"DISTROD_CLUSTER_SECRET", "0123456789abcdef",
			"DISTROD_CLUSTER_TLS_CERT_FILE", "c.pem", "DISTROD_CLUSTER_TLS_KEY_FILE", "k.pem"}, cluster...), "cluster-tls-ca-file together"},
		{"cluster TLS while insecure", append([]string{"DISTROD_CLUSTER_INSECURE", "true", "DISTROD_CLUSTER_TLS_CERT_FILE", "c.pem",
			"DISTROD_CLUSTER_TLS_KEY_FILE", "k.pem", "DISTROD_CLUSTER_TLS_CA_FILE", "ca.pem"}, cluster...), "runs under the secret handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(nil, env(tc.env...))
			if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrTLS mentioning %q", err, tc.want)
			}
		})
	}
	// Complete sets are accepted; cluster TLS still needs the secret.
	if _, err := Load(nil, env(append([]string{"DISTROD_CLUSTER_SECRET", "0123456789abcdef",
		"DISTROD_CLUSTER_TLS_CERT_FILE", "c.pem", "DISTROD_CLUSTER_TLS_KEY_FILE", "k.pem", "DISTROD_CLUSTER_TLS_CA_FILE", "ca.pem",
		"DISTROD_HTTP_TLS_CERT_FILE", "c.pem", "DISTROD_HTTP_TLS_KEY_FILE", "k.pem", "DISTROD_HTTP_TLS_CLIENT_CA_FILE", "ca.pem",
		"DISTROD_GRPC_TLS_CERT_FILE", "c.pem", "DISTROD_GRPC_TLS_KEY_FILE", "k.pem", "DISTROD_GRPC_TLS_COMPATIBILITY", "true"}, cluster...)...)); err != nil {
		t.Fatalf("complete TLS settings: %v", err)
	}
	if _, err := Load(nil, env(append([]string{"DISTROD_CLUSTER_TLS_CERT_FILE", "c.pem", "DISTROD_CLUSTER_TLS_KEY_FILE", "k.pem",
		"DISTROD_CLUSTER_TLS_CA_FILE", "ca.pem"}, cluster...)...)); !errors.Is(err, ErrClusterSecret) {
		t.Fatalf("cluster TLS without a secret: err = %v, want ErrClusterSecret", err)
	}
}
