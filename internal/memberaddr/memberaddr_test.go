package memberaddr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeMember_Canonicalises(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"10.0.0.1", "10.0.0.1:8848", false},
		{" 10.0.0.1:9000 ", "10.0.0.1:9000", false},
		{"Node-1.Example.", "node-1.example:8848", false},
		{"node_1:80", "node_1:80", false},
		{"::1", "[::1]:8848", false},
		{"[2001:DB8::1]", "[2001:db8::1]:8848", false},
		{"[2001:db8::1]:9000", "[2001:db8::1]:9000", false},
		{"::ffff:10.0.0.1", "10.0.0.1:8848", false},
		{"", "", true},
		{"10.0.0.1:", "", true},
		{"[::1]:", "", true},
		{"10.0.0.1:0", "", true},
		{"10.0.0.1:65536", "", true},
		{"10.0.0.1:http", "", true},
		{"http://10.0.0.1:8848", "", true},
		{"10.0.0.1/24", "", true},
		{"a..b", "", true},
		{"bad!host", "", true},
		{"fe80::1%eth0", "", true},
		{"1:2:3", "", true},
		{"[::1", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizeMember(tt.in, 8848)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeMember(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidAddr) {
			t.Errorf("NormalizeMember(%q) error %v does not wrap ErrInvalidAddr", tt.in, err)
		}
	}
}

func TestSplitMembers_AcceptsCommasAndSpaces(t *testing.T) {
	got := SplitMembers(" a:1, b:2  c\t,,d;e\n")
	if want := []string{"a:1", "b:2", "c", "d", "e"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("SplitMembers = %q, want %q", got, want)
	}
}

func TestParseClusterConf_EdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"empty", "", []string{}, ""},
		{"only comments and blanks", "# a\n\n   \n#b:1\n", []string{}, ""},
		{"one per line", "10.0.0.1:8848\n10.0.0.2:8848\n", []string{"10.0.0.1:8848", "10.0.0.2:8848"}, ""},
		{"missing port", "10.0.0.1\n", []string{"10.0.0.1:9000"}, ""},
		{"trailing comment", "10.0.0.1:8848 # primary\n10.0.0.2#x\n", []string{"10.0.0.1:8848", "10.0.0.2:9000"}, ""},
		{"comma separated", "10.0.0.1:1,10.0.0.2:2 , 10.0.0.3\n", []string{"10.0.0.1:1", "10.0.0.2:2", "10.0.0.3:9000"}, ""},
		{"duplicates and order", "10.0.0.2\n10.0.0.1\n10.0.0.2:9000\n", []string{"10.0.0.1:9000", "10.0.0.2:9000"}, ""},
		{"crlf and bom", "\ufeff10.0.0.1\r\n10.0.0.2\r\n", []string{"10.0.0.1:9000", "10.0.0.2:9000"}, ""},
		{"no final newline", "10.0.0.1", []string{"10.0.0.1:9000"}, ""},
		{"ipv6", "[::1]:8848\n", []string{"[::1]:8848"}, ""},
		{"host names", "Nacos-0.svc:8848\n", []string{"nacos-0.svc:8848"}, ""},
		{"bad port names line", "10.0.0.1\n10.0.0.2:x\n", nil, "line 2"},
		{"scheme", "http://10.0.0.1:8848\n", nil, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClusterConf(strings.NewReader(tt.in), 9000)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidAddr) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidAddr mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
