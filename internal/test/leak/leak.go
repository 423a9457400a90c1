// Package leak finds goroutines that tests left running.
package leak

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// benign marks goroutines that belong to the runtime or the test framework.
var benign = []string{
	"testing.(*M).",
	"testing.tRunner(",
	"testing.runTests(",
	"testing.(*T).Run(",
	"testing.(*F).Fuzz(",
	"testing.runFuzzing(",
	"testing.(*T).Parallel(",
	"runtime.goexit",
	"created by runtime.gc",
	"runtime.MHeap_Scavenger",
	"signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"leak.Running(",
	"runtime/trace.Start",
	"created by internal/fuzz",
}

// Running returns the stacks of goroutines other than the caller's and the
// test framework's.
func Running() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if g == "" || isBenign(g) {
			continue
		}
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

func isBenign(stack string) bool {
	lines := strings.Split(stack, "\n")
	if len(lines) < 2 {
		return true
	}
	for _, b := range benign {
		// The goroutine's own function is on line 2; what created it
		// is near the end.
		if strings.Contains(lines[1], b) || strings.Contains(lines[len(lines)-1], b) || strings.Contains(lines[len(lines)-2], b) {
			return true
		}
	}
	return false
}

// Main runs the tests and then fails the binary if goroutines are still
// running five seconds after the last test ended. Use it as
//
//	func TestMain(m *testing.M) { leak.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		var left []string
		for deadline := time.Now().Add(5 * time.Second); ; {
			left = Running()
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(left) > 0 {
			fmt.Fprintf(os.Stderr, "leak: %d goroutines still running after the tests:\n\n%s\n", len(left), strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}
