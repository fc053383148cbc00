package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumNames are the executables Browser looks for, Debian's first.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser starts a headless Chromium with a fresh profile and no
// background network traffic and returns a chromedp context for one tab,
// closed when the test ends. It skips the test when no Chromium is
// installed (scripts/setup.sh installs Debian's chromium when run as root).
func Browser(t testing.TB) context.Context {
	t.Helper()
	var bin string
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no Chromium installed: run scripts/setup.sh as root, or apt-get install chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Without these Chromium tries to reach the network, and fails.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1366, 900),
	}
	opts = append(chromedp.DefaultExecAllocatorOptions[:], opts...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", bin, err)
	}
	return ctx
}

// WaitJS evaluates the JavaScript expression expr in the page every 50 ms
// until it is true, and fails the test if that does not happen within
// timeout. what names the condition in the failure.
func WaitJS(t testing.TB, ctx context.Context, timeout time.Duration, what, expr string) {
	t.Helper()
	err := Poll(timeout, func() error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("false: " + expr)
		}
		return nil
	})
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: not true within %v: %v\npage text:\n%s", what, timeout, err, body)
	}
}

// Screenshot saves a full-page PNG of the tab as name.png in dir and logs
// its path.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, fmt.Errorf("write: %w", err))
	}
	t.Logf("screenshot: %s", p)
	return p
}

// ScreenshotDir is where browser tests save their screenshots: the
// directory named by DISTROD_SCREENSHOT_DIR (created if needed) so that
// they outlive the test, else a temporary directory removed after it.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DISTROD_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("DISTROD_SCREENSHOT_DIR: %v", err)
	}
	return dir
}
