// Package testbrowser starts Debian's headless Chromium for the browser
// tests of the pages the gateway serves (the checkout, the dashboard) and
// says where their screenshots go, so every such test runs the browser
// the same way.
//
// It is test support only; no production code imports it.
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of Debian's Chromium. Without it the test
// skips on a developer's machine and fails in CI (CI set), where
// .ci/services.sh installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/services.sh should have installed it")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// Artefacts is where a test's screenshots go: $CRYPTOPAY_TEST_ARTIFACTS/sub
// if that is set (CI keeps it), else a temporary directory.
func Artefacts(t testing.TB, sub string) string {
	t.Helper()
	dir := os.Getenv("CRYPTOPAY_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// New starts a headless Chromium at chrome with a fresh profile and
// returns a browser context that ends after timeout or at the test's
// cleanup. The flags keep Chromium off the network it cannot reach here
// (background networking, component updates, sync, QUIC); extra adds
// flags of the test's own (e.g. hide-scrollbars for screenshots).
func New(t testing.TB, chrome string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	bctx, cancelTimeout := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	return bctx
}

// Screenshot saves the whole page as dir/name.png (quality 100 makes
// Chromium encode PNG, not JPEG) and logs where.
func Screenshot(t testing.TB, bctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}
