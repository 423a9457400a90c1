package wsx

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStandardLibraryOnly checks that package wsx, and everything it
// imports, comes from the standard library or this module's internal
// packages: programs that use wsx take on no other dependency.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/wsx-go/wsx" && !strings.HasPrefix(pkg, "github.com/wsx-go/wsx/internal/") {
			t.Errorf("package wsx depends on %s", pkg)
		}
	}
}
