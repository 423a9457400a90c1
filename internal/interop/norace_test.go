//go:build linux && !race

package interop

const raceEnabled = false
