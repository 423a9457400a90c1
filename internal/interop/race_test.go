//go:build linux && race

package interop

// raceEnabled reports whether the tests were built with -race; the wsx
// binary under test is then built with it too.
const raceEnabled = true
