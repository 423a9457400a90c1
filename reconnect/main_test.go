package reconnect_test

import (
	"testing"

	"github.com/wsx-go/wsx/internal/test/leak"
)

func TestMain(m *testing.M) { leak.Main(m) }
