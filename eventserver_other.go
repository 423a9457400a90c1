//go:build !linux

package wsx

import (
	"context"
	"errors"
	"fmt"
	"net"
)

func (s *EventServer) serve(ctx context.Context, ln net.Listener) error {
	return fmt.Errorf("wsx: EventServer needs Linux: %w", errors.ErrUnsupported)
}
