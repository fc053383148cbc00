package bench

import (
	"context"
	"errors"
	"testing"
)

func TestRun_ScaleClusterScenariosRefuseWithoutACluster(t *testing.T) {
	for _, name := range []string{"converge", "joindown"} {
		_, err := Run(context.Background(), name, Config{Targets: []string{"127.0.0.1:8848"}})
		if !errors.Is(err, ErrNeedsCluster) {
			t.Errorf("%s: err %v, want ErrNeedsCluster", name, err)
		}
	}
	two := Config{Targets: []string{"127.0.0.1:8848", "127.0.0.1:8858"}, PIDs: []int{1, 2}}
	if _, err := Run(context.Background(), "joindown", two); !errors.Is(err, ErrNeedsCluster) {
		t.Errorf("joindown with two targets: err %v, want ErrNeedsCluster", err)
	}
}
