//go:build !linux

package main

import (
	"errors"
	"sync"
)

// Elsewhere than on Linux, connect mode opens every connection with
// wsx.Dial.
const rawConnectSupported = false

func startRawConnect(*connectRun, *rawPlan, *sync.WaitGroup) error {
	return errors.New("no raw client on this system")
}
