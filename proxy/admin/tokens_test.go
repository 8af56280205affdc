package admin_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/admin"
)

// Reload swaps the token set read from the file whole; a file that no longer loads keeps the
// tokens in use; tokens that did not come from a file have nothing to reload.
func TestTokenFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ops:" + opsToken + "\nterraform:" + terraformTok + "\n")
	tokens, err := admin.LoadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := tokens.Lookup(opsToken); !ok || name != "ops" {
		t.Fatalf("before: ops token -> %q %v", name, ok)
	}

	write("# ops left\nterraform:" + terraformTok + "\nci:ci-token-0123456789abcdef\n")
	if err := tokens.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := tokens.Lookup(opsToken); ok {
		t.Fatal("a removed token is still accepted after the reload")
	}
	if name, ok := tokens.Lookup("ci-token-0123456789abcdef"); !ok || name != "ci" {
		t.Fatalf("an added token: %q %v", name, ok)
	}

	for _, broken := range []string{"short:abc\n", "\n# nothing\n", "a:" + opsToken + "\na:" + terraformTok + "\n"} {
		write(broken)
		if err := tokens.Reload(); err == nil {
			t.Fatalf("a broken token file loaded: %q", broken)
		}
		if _, ok := tokens.Lookup(terraformTok); !ok || tokens.Len() != 2 {
			t.Fatalf("after a failed reload (%q) the tokens in use changed", broken)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := tokens.Reload(); err == nil || !strings.Contains(err.Error(), "admin token file") {
		t.Fatalf("a missing file: %v", err)
	}

	env, err := admin.NewTokens(map[string]string{"env": opsToken})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Reload(); !errors.Is(err, admin.ErrNotReloadable) {
		t.Fatalf("tokens not from a file: Reload = %v", err)
	}
}
